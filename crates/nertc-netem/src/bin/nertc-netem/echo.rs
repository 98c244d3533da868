//! `--echo PORT`: a UDP and TCP echo server, to run on the far side in tests.

use std::io;
use std::net::{TcpListener, TcpStream, UdpSocket};

pub fn run(port: u16) -> io::Result<()> {
    let udp = UdpSocket::bind(("0.0.0.0", port))?;
    let tcp = TcpListener::bind(("0.0.0.0", port))?;
    log!("netem echo: udp and tcp port {port}");
    std::thread::Builder::new().name("echo-udp".into()).spawn(move || {
        let mut buf = vec![0u8; 65536];
        loop {
            match udp.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let _ = udp.send_to(&buf[..n], from);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log!("netem echo: udp: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
    })?;
    for stream in tcp.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::Builder::new().name("echo-tcp".into()).spawn(move || {
                    if let Err(e) = echo_tcp(stream) {
                        log!("netem echo: tcp: {e}");
                    }
                })?;
            }
            Err(e) => log!("netem echo: accept: {e}"),
        }
    }
    Ok(())
}

fn echo_tcp(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = stream.try_clone()?;
    let mut writer = stream;
    io::copy(&mut reader, &mut writer)?;
    writer.shutdown(std::net::Shutdown::Write)
}
