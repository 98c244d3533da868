//! NERTC's data channel (`enableLocalData`, `subscribeRemoteData`, `sendData` and the
//! `onUserData*` events), relayed by the room server over signaling (protocol 3: `enable_data`,
//! `subscribe_data`, `data`; docs/protocol.md §13). One WebSocket per client and one room actor
//! keep each sender's messages in order; a message is at most
//! [`nertc_protocol::MAX_DATA_BYTES`] bytes and a sender at most [`MAX_MESSAGES_PER_SEC`]
//! messages a second (the server cuts off a client sending more than 200 frames a second of
//! any kind). Messages sent while a receiver's socket is down (before its resume) are not
//! replayed to it.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use nertc_protocol::{ClientMsg, DataMsg, EnableDataRequest, SubscribeDataRequest, Uid};

use crate::actor::Actor;
use crate::error::{EngineError, Result};
use crate::event::EngineEvent;
use crate::session::{Pending, Session};
use crate::shared::lock;

/// `sendData` calls a second beyond which it returns `ERR_BUSY` (well under the server's
/// 200 frames a second per connection, which also carry pings, ICE and SDP).
pub const MAX_MESSAGES_PER_SEC: u32 = 100;

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
            DataCmd::Send(data) => {
                if let Err(e) = s.signal.send(ClientMsg::Data(DataMsg { data })) {
                    tracing::warn!("sendData: not sent: {e}");
                }
            }
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
