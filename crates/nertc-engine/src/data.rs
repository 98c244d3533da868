//! NERTC's data channel (`enableLocalData`, `subscribeRemoteData`, `sendData` and the
//! `onUserData*` events) through the room server (docs/protocol.md §13.2). Who sends and who
//! receives is said over signaling (protocol 3: `enable_data`, `subscribe_data`); the messages
//! themselves travel over an SCTP data channel (protocol 4): the server opens an ordered,
//! reliable one on our `sub` connection once we send data or someone we would receive from
//! does, we send ours on it as they are and get everyone's framed with the sender's uid
//! ([`nertc_protocol::data_frame`]). Until it is open (and if it closes) messages go both ways
//! as signaling `data` instead. Either path keeps a sender's messages in order (one SCTP
//! stream, or one WebSocket; one room actor), and so does the switch from one to the other:
//! - sending: when the channel opens after we sent data over signaling, we send a request the
//!   room answers after it has relayed all of those (a `subscribe_data` for our own uid, which
//!   changes nothing) and hold new messages until the answer, then send them on the channel;
//! - receiving: the server says on the socket when it starts using our channel (the
//!   `data_channel` transport message, after every `data` it sent there); what the channel
//!   brings before that is held.
//!
//! Either hold ends after [`SWITCH_WAIT`] at most (the socket was down: what it lost is lost).
//!
//! A message is at most [`nertc_protocol::MAX_DATA_BYTES`] bytes and a sender at most
//! [`MAX_MESSAGES_PER_SEC`] messages a second (the server cuts off a client sending more than
//! 200 signaling frames a second of any kind). Messages sent while a receiver's connection is
//! down (before its resume) are not replayed to it.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use nertc_protocol::{ClientMsg, DataMsg, EnableDataRequest, SubscribeDataRequest, Uid};
use nertc_rtc::pc::{DataEvent, DataSender};

use crate::actor::Actor;
use crate::error::{EngineError, Result};
use crate::event::EngineEvent;
use crate::session::{Pending, Session};
use crate::shared::lock;

/// `sendData` calls a second beyond which it returns `ERR_BUSY` (well under the server's
/// 200 frames a second per connection, which also carry pings, ICE and SDP, for when the
/// messages go over signaling).
pub const MAX_MESSAGES_PER_SEC: u32 = 100;

/// Longest a switch to the data channel holds messages (see the module docs).
pub const SWITCH_WAIT: Duration = Duration::from_secs(2);

/// The API side: whether `enableLocalData(true)` holds, and the send rate window.
#[derive(Debug)]
pub(crate) struct DataCtl {
    pub enabled: AtomicBool,
    window: Mutex<(Instant, u32)>,
}

impl Default for DataCtl {
    fn default() -> Self {
        DataCtl { enabled: AtomicBool::new(false), window: Mutex::new((Instant::now(), 0)) }
    }
}

impl DataCtl {
    /// Checks a `sendData` message against the limits and counts it.
    pub fn admit(&self, len: usize) -> Result<()> {
        if len == 0 || len > nertc_protocol::MAX_DATA_BYTES {
            return Err(EngineError::InvalidParam(format!("data of {len} bytes (1..={})", nertc_protocol::MAX_DATA_BYTES)));
        }
        if !self.enabled.load(Relaxed) {
            return Err(EngineError::WrongState("sendData before enableLocalData(true)"));
        }
        let mut w = lock(&self.window);
        let now = Instant::now();
        if now.duration_since(w.0) >= Duration::from_secs(1) {
            *w = (now, 0);
        }
        if w.1 >= MAX_MESSAGES_PER_SEC {
            return Err(EngineError::Busy);
        }
        w.1 += 1;
        Ok(())
    }
}

/// A call's data channel state (kept across a rejoin).
#[derive(Debug, Default, Clone)]
pub(crate) struct DataState {
    /// Ours is on.
    pub enabled: bool,
    /// Users we unsubscribed from (`subscribeRemoteData(uid, false)`).
    pub unsub: BTreeSet<Uid>,
    /// Users whose data channel is on.
    pub remote_on: BTreeSet<Uid>,
    /// The server's SCTP data channel, while we send on it.
    pub channel: Option<DataSender>,
    /// The channel opened and the fence is out: our messages are held meanwhile (since when).
    pub fencing: Option<(DataSender, Vec<Vec<u8>>, Instant)>,
    /// A message went over signaling since the last switch to the channel.
    pub signaling_sent: bool,
    /// Channels opened, and `data_channel` messages seen: while fewer of the latter, what the
    /// newest channel brings is held (since when).
    pub opened: u32,
    pub switched: u32,
    pub held_in: VecDeque<(Uid, Vec<u8>)>,
    pub held_since: Option<Instant>,
    /// Messages we sent over the channel / over signaling (for the logs).
    pub sent_sctp: u64,
    pub sent_signaling: u64,
}

/// What the API asks of the actor.
#[derive(Debug)]
pub(crate) enum DataCmd {
    Enable(bool),
    Subscribe { uid: Uid, on: bool },
    Send(Vec<u8>),
}

impl Actor {
    pub(crate) fn data_command(&mut self, cmd: DataCmd) {
        let Some(s) = self.session.as_mut() else { return };
        match cmd {
            DataCmd::Enable(on) => {
                if s.data.enabled != on {
                    s.data.enabled = on;
                    s.request(ClientMsg::EnableData(EnableDataRequest { enabled: on }), Pending::Other("enable_data"));
                }
            }
            DataCmd::Subscribe { uid, on } => {
                let changed = if on { s.data.unsub.remove(&uid) } else { s.data.unsub.insert(uid) };
                if changed {
                    s.request(ClientMsg::SubscribeData(SubscribeDataRequest { uid, subscribe: on }), Pending::Other("subscribe_data"));
                }
            }
            DataCmd::Send(data) => Self::send_data(s, data),
        }
    }

    /// One `sendData` message: on the channel, held while switching to it, else signaling.
    fn send_data(s: &mut Session, data: Vec<u8>) {
        if let Some((_, held, _)) = &mut s.data.fencing {
            held.push(data);
            return;
        }
        if let Some(tx) = &s.data.channel {
            if tx.send(data.clone().into()) {
                s.data.sent_sctp += 1;
                return;
            }
            if !tx.is_closed() {
                // Seconds of messages the server has not taken: going around them over
                // signaling would reorder them.
                tracing::warn!("data channel queue full; sendData message dropped");
                return;
            }
            tracing::info!("data channel closed: data messages go over signaling");
            s.data.channel = None;
        }
        s.data.sent_signaling += 1;
        s.data.signaling_sent = true;
        if let Err(e) = s.signal.send(ClientMsg::Data(DataMsg { data })) {
            tracing::warn!("sendData: not sent: {e}");
        }
    }

    /// The server's data channel opened, brought a message (from the uid it starts with), or
    /// closed.
    pub(crate) fn data_channel_event(&mut self, ev: DataEvent) {
        let Some(s) = self.session.as_mut() else { return };
        match ev {
            DataEvent::Open(tx) => {
                s.data.opened += 1;
                if !std::mem::take(&mut s.data.signaling_sent) {
                    tracing::debug!(signaling = s.data.sent_signaling, "data channel open: data messages go over SCTP");
                    s.data.channel = Some(tx);
                    return;
                }
                // Fence: after the room has relayed what we sent over signaling.
                let uid = s.join.uid;
                if s.request(ClientMsg::SubscribeData(SubscribeDataRequest { uid, subscribe: true }), Pending::DataFence).is_some() {
                    s.data.fencing = Some((tx, Vec::new(), Instant::now()));
                } else {
                    s.data.channel = Some(tx);
                }
            }
            DataEvent::Message(frame) => {
                let Some((uid, data)) = nertc_protocol::parse_data_frame(&frame) else {
                    return tracing::warn!(bytes = frame.len(), "a data channel message too short to name its sender");
                };
                if s.data.switched < s.data.opened {
                    s.data.held_since.get_or_insert_with(Instant::now);
                    s.data.held_in.push_back((uid, data.to_vec()));
                } else if !s.data.unsub.contains(&uid) {
                    self.shared.emit(EngineEvent::UserDataReceiveMessage { uid, data: data.to_vec() });
                }
            }
            // A channel that closed is noticed at the next send (a newer one may be open).
            DataEvent::Closed => {
                if s.data.channel.as_ref().is_some_and(|tx| tx.is_closed()) {
                    s.data.channel = None;
                }
            }
        }
    }

    /// The fence is answered: the room has relayed every message we sent over signaling; what
    /// was held goes on the channel, in order, and so does what follows.
    pub(crate) fn data_fenced(&mut self) {
        let Some(s) = self.session.as_mut() else { return };
        let Some((tx, held, _)) = s.data.fencing.take() else { return };
        tracing::debug!(held = held.len(), "data channel fenced: data messages go over SCTP");
        s.data.channel = Some(tx);
        for data in held {
            Self::send_data(s, data);
        }
    }

    /// The server's `data_channel`: nothing more comes over signaling before the channel's
    /// messages; deliver what the channel brought meanwhile.
    pub(crate) fn data_switched(&mut self) {
        let Some(s) = self.session.as_mut() else { return };
        s.data.switched += 1;
        if s.data.switched >= s.data.opened {
            self.release_held_data();
        }
    }

    fn release_held_data(&mut self) {
        let Some(s) = self.session.as_mut() else { return };
        s.data.held_since = None;
        for (uid, data) in std::mem::take(&mut s.data.held_in) {
            if !s.data.unsub.contains(&uid) {
                self.shared.emit(EngineEvent::UserDataReceiveMessage { uid, data });
            }
        }
    }

    /// Ends a switch that waited [`SWITCH_WAIT`] (its fence answer or `data_channel` was lost
    /// with the socket).
    pub(crate) fn data_tick(&mut self) {
        let Some(s) = self.session.as_mut() else { return };
        if s.data.fencing.as_ref().is_some_and(|(_, _, since)| since.elapsed() >= SWITCH_WAIT) {
            tracing::info!("data channel fence not answered: sending on the channel anyway");
            self.data_fenced();
        }
        let Some(s) = self.session.as_mut() else { return };
        if s.data.held_since.is_some_and(|t| t.elapsed() >= SWITCH_WAIT) {
            tracing::info!("no data_channel from the server: delivering what the channel brought");
            s.data.switched = s.data.opened;
            self.release_held_data();
        }
    }

    /// A user's data channel went on or off (a `user_data` event, or the join snapshot).
    pub(crate) fn remote_data(&self, s: &mut Session, uid: Uid, on: bool) {
        let changed = if on { s.data.remote_on.insert(uid) } else { s.data.remote_on.remove(&uid) };
        if changed {
            self.shared.emit(if on { EngineEvent::UserDataStart { uid } } else { EngineEvent::UserDataStop { uid } });
            self.shared.emit(EngineEvent::UserDataStateChanged { uid });
        }
    }

    /// A new server session (a rejoin after the resume window) knows nothing of ours: say it
    /// again.
    pub(crate) fn resend_data_state(s: &mut Session) {
        if s.data.enabled {
            s.request(ClientMsg::EnableData(EnableDataRequest { enabled: true }), Pending::Other("enable_data"));
        }
        for uid in s.data.unsub.clone() {
            s.request(ClientMsg::SubscribeData(SubscribeDataRequest { uid, subscribe: false }), Pending::Other("subscribe_data"));
        }
    }
}
