//! The actor: one tokio task that owns the channel session and reacts to messages — commands
//! from the API, results of the tasks it spawned, signaling events, transport events and two
//! timers. Nothing here awaits a round trip: every handler is synchronous; network work runs
//! in tasks (connect, the peer-connection tasks) whose results come back as messages, and
//! signaling requests are tracked by id with their responses arriving as events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nertc_protocol::{ClientMsg, MediaKind, PcKind, TransportMsg, Uid};
use nertc_signal::{Connected, SignalError, SignalEvent};
use tokio::sync::mpsc;

use crate::error::EngineError;
use crate::event::EngineEvent;
use crate::session::{End, JoinParams, Joining, Session};
use crate::shared::Shared;
use crate::stats::StatsState;
use crate::transport::TransportEvent;

/// Commands from the API. The queue is bounded ([`crate::api::COMMAND_QUEUE`]); a full queue
/// fails the call with `ERR_BUSY` instead of blocking the JS thread.
pub(crate) enum Cmd {
    Join {
        params: JoinParams,
        started: Instant,
    },
    Leave,
    /// `switchChannel*`: leave (onLeaveChannel) and join `channel` as the same uid and role
    /// (onJoinChannel); `name` None keeps the current one.
    Switch {
        generation: u64,
        token: Option<String>,
        channel: String,
        name: Option<String>,
        started: Instant,
    },
    /// Bring the published tracks in line with the settings (local media switches, role).
    Republish,
    Mute {
        source: nertc_protocol::TrackSource,
        muted: bool,
    },
    Subscribe {
        uid: Uid,
        kind: MediaKind,
        on: bool,
    },
    /// The audio subscription lists.
    AudioList(crate::subscribe::AudioList),
    /// `setAudioSubscribeOnlyBy`: who may hear us.
    AudioOnlyBy(Vec<Uid>),
    /// The data channel.
    Data(crate::data::DataCmd),
    /// `subscribeRemoteVideoStream`'s stream type: 0 high, 1 low.
    VideoLayer {
        uid: Uid,
        layer: u8,
    },
    /// `subscribeRemoteVideoSubStream`.
    SubscribeSubStream {
        uid: Uid,
        on: bool,
    },
    /// `updatePermissionKey`: a new token for the live session.
    RenewToken {
        token: String,
    },
}

impl Cmd {
    /// For the log.
    fn name(&self) -> &'static str {
        match self {
            Cmd::Join { .. } => "join",
            Cmd::Leave => "leave",
            Cmd::Switch { .. } => "switch",
            Cmd::Republish => "republish",
            Cmd::Mute { .. } => "mute",
            Cmd::Subscribe { .. } => "subscribe",
            Cmd::AudioList(_) => "audio list",
            Cmd::AudioOnlyBy(_) => "audio only by",
            Cmd::Data(_) => "data",
            Cmd::VideoLayer { .. } => "video layer",
            Cmd::SubscribeSubStream { .. } => "substream subscription",
            Cmd::RenewToken { .. } => "token renewal",
        }
    }
}

/// A handler slower than this is logged (see the loop in [`run`]).
const SLOW_HANDLER: Duration = Duration::from_millis(250);

/// Results of work the actor spawned.
pub(crate) enum Input {
    Connected { attempt: u64, result: Result<Connected, SignalError> },
}

/// Results the actor may be behind before a spawned task waits.
const INBOX: usize = 16;

pub(crate) struct Actor {
    pub shared: Arc<Shared>,
    pub rt: tokio::runtime::Handle,
    pub inbox: mpsc::Sender<Input>,
    pub attempts: u64,
    pub joining: Option<Joining>,
    pub session: Option<Session>,
    pub stats: StatsState,
}

/// The next message from the session's signaling driver or transport tasks.
enum FromSession {
    Signal(SignalEvent),
    Transport(TransportEvent),
}

async fn from_session(s: &mut Option<Session>) -> Option<FromSession> {
    let Some(s) = s else { return std::future::pending().await };
    // A driver that is gone (after its Closed) stays quiet until a resume replaces it.
    let signal = async {
        match s.signal_events.recv().await {
            Some(ev) => ev,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        ev = signal => Some(FromSession::Signal(ev)),
        ev = s.transport_events.recv() => ev.map(FromSession::Transport),
    }
}

/// Runs the actor until the engine is released (`release` fires) or dropped (`cmds` closes).
/// On release it ends the session and waits (bounded) for the peer connections to close, then
/// acknowledges on `done`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut cmds: mpsc::Receiver<Cmd>,
    release: tokio::sync::oneshot::Receiver<std::sync::mpsc::Sender<()>>,
) {
    let (inbox, mut inbox_rx) = mpsc::channel(INBOX);
    let mut a = Actor {
        shared,
        rt: tokio::runtime::Handle::current(),
        inbox,
        attempts: 0,
        joining: None,
        session: None,
        stats: StatsState::default(),
    };
    let mut stats_tick = tokio::time::interval(Duration::from_secs(2));
    let mut fast_tick = tokio::time::interval(Duration::from_millis(100));
    let mut ticks = 0u64;
    tokio::pin!(release);
    let done = loop {
        // Every handler is synchronous: one that blocks stalls the whole session (signaling
        // unread, commands queued), so a slow one is logged with what it handled.
        let started = Instant::now();
        let handled = tokio::select! {
            biased;
            r = &mut release => break r.ok(),
            cmd = cmds.recv() => match cmd {
                Some(cmd) => {
                    let what = cmd.name();
                    a.command(cmd);
                    what
                }
                None => break None,
            },
            Some(input) = inbox_rx.recv() => {
                a.input(input);
                "connect result"
            }
            Some(ev) = from_session(&mut a.session) => match ev {
                FromSession::Signal(ev) => {
                    a.signal_event(ev);
                    "signaling event"
                }
                FromSession::Transport(ev) => {
                    a.transport_event(ev);
                    "transport event"
                }
            },
            _ = stats_tick.tick() => {
                a.report_stats();
                "stats"
            }
            _ = fast_tick.tick() => {
                ticks += 1;
                a.volume_indication(ticks);
                a.reconnect_tick();
                a.token_tick();
                a.media_tick();
                a.publish_fallback_tick();
                a.data_tick();
                "tick"
            }
        };
        let took = started.elapsed();
        if took > SLOW_HANDLER {
            tracing::warn!(took_ms = took.as_millis() as u64, "engine actor: {handled} took long");
        }
    };
    let closing = a.end_session(End::Released);
    let _ = tokio::time::timeout(Duration::from_secs(1), futures_util::future::join_all(closing)).await;
    if let Some(done) = done {
        let _ = done.send(());
    }
    tracing::debug!("engine actor stopped");
}

impl Actor {
    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Join { params, started } => self.join(params, started),
            Cmd::Leave => {
                self.end_session(End::Left);
            }
            Cmd::Switch { generation, token, channel, name, started } => self.switch(generation, token, channel, name, started),
            Cmd::Republish => self.republish(),
            Cmd::Mute { source, muted } => self.mute(source, muted),
            Cmd::SubscribeSubStream { uid, on } => self.want_sub(uid, on),
            Cmd::Subscribe { uid, kind, on } => self.want(uid, kind, on),
            Cmd::AudioList(list) => self.audio_list(list),
            Cmd::AudioOnlyBy(uids) => {
                if let Some(s) = self.session.as_mut() {
                    let msg = ClientMsg::SetAudioSubscribers(nertc_protocol::AudioSubscribersRequest { uids });
                    s.request(msg, crate::session::Pending::Other("set_audio_subscribers"));
                }
            }
            Cmd::Data(cmd) => self.data_command(cmd),
            Cmd::VideoLayer { uid, layer } => self.want_layer(uid, layer),
            Cmd::RenewToken { token } => self.renew_token(token),
        }
    }

    fn switch(&mut self, generation: u64, token: Option<String>, channel: String, name: Option<String>, started: Instant) {
        let old = match (&self.session, &self.joining) {
            (Some(s), _) => s.params.clone(),
            (None, Some(j)) => j.params.clone(),
            (None, None) => {
                // The call ended (the server's doing) after the API looked.
                tracing::warn!("switchChannel: no call to switch from");
                self.shared.presence.end(generation);
                self.shared.emit(EngineEvent::JoinChannel { cid: 0, uid: 0, result: crate::error::ERR_NOT_JOINED, elapsed_ms: 0 });
                return;
            }
        };
        self.end_session(End::Left);
        let params = JoinParams { generation, token, channel, name: name.unwrap_or(old.name), ..old };
        self.join(params, started);
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::Connected { attempt, result } => {
                if self.joining.as_ref().is_some_and(|j| j.attempt == attempt) {
                    let j = self.joining.take().expect("checked just above");
                    self.joined(j, result);
                } else if self
                    .session
                    .as_ref()
                    .and_then(|s| s.reconnect.as_ref())
                    .is_some_and(|r| r.in_flight.iter().any(|(a, _)| *a == attempt))
                {
                    self.reconnected(attempt, result);
                } else if let Ok(c) = result {
                    // Left (or released) while connecting.
                    c.signal.close();
                }
            }
        }
    }

    fn signal_event(&mut self, ev: SignalEvent) {
        let Some(s) = self.session.as_mut() else { return };
        match ev {
            SignalEvent::Reply { id, result } => {
                let Some(what) = s.pending.remove(&id) else { return };
                self.reply(what, result);
            }
            SignalEvent::Event { seq, event } => {
                s.last_seq = s.last_seq.max(seq);
                self.room_event(event);
            }
            SignalEvent::Transport(TransportMsg::Sdp(offer)) if offer.pc == PcKind::Sub => {
                s.transport.subscribe(crate::transport::SubCmd::Offer(offer));
            }
            SignalEvent::Transport(TransportMsg::Data { uid, data }) => {
                if !s.data.unsub.contains(&uid) {
                    self.shared.emit(EngineEvent::UserDataReceiveMessage { uid, data });
                }
            }
            SignalEvent::Transport(TransportMsg::DataChannel {}) => self.data_switched(),
            SignalEvent::Transport(TransportMsg::Pong(p)) => {
                s.rtt_ms = Some(nertc_signal::now_ms().saturating_sub(p.ts).min(60_000) as u32);
            }
            SignalEvent::Transport(TransportMsg::Layers(m)) => self.layers_wanted(m),
            SignalEvent::Transport(TransportMsg::Fallback(m)) => self.subscribe_fallback(m),
            SignalEvent::Transport(TransportMsg::Replace(m)) if m.pc == PcKind::Pub => {
                s.transport.publish(crate::transport::PubCmd::Replace { neg: m.neg });
            }
            SignalEvent::Transport(TransportMsg::Leave { reason }) => {
                tracing::warn!(?reason, "the server ended the session");
                self.end_session(End::Server(reason));
            }
            SignalEvent::Transport(_) | SignalEvent::Unmatched { .. } => {}
            SignalEvent::Closed { code, reason } => {
                tracing::warn!(code, %reason, "signaling connection lost");
                self.start_reconnect();
            }
        }
    }

    fn transport_event(&mut self, ev: TransportEvent) {
        match ev {
            TransportEvent::TrackAdded { source, track_id, track, ssrc, low } => self.track_added(source, track_id, track, ssrc, low),
            TransportEvent::PubNegotiated { restart } => {
                if restart {
                    self.restart_done(true);
                }
            }
            TransportEvent::RestartFailed { pc, error } => {
                tracing::info!(?pc, "ICE restart not negotiated: {error}");
                self.restart_done(false);
            }
            TransportEvent::RemoteTrack { info, track } => self.start_receiving(info, track),
            TransportEvent::State { pc, state } => self.pc_state(pc, state),
            TransportEvent::Data(ev) => self.data_channel_event(ev),
            TransportEvent::Failed { pc, error } => {
                tracing::error!(?pc, "{error}");
                self.shared.emit(EngineEvent::Error { code: error.code(), msg: format!("{pc:?} connection: {error}") });
            }
        }
    }

    /// A signaling response, matched to what it answers.
    fn reply(&mut self, what: crate::session::Pending, result: Result<nertc_protocol::Reply, SignalError>) {
        use crate::session::Pending;
        match what {
            Pending::Publish { source, muted } => self.published(source, muted, result),
            Pending::Subscribe { uid, track_id } => self.subscribed(uid, track_id, result),
            Pending::Renew { token } => self.token_renewed(token, result),
            Pending::Other(what) => {
                if let Err(e) = result {
                    tracing::warn!(request = what, "{}", EngineError::from(e));
                }
            }
            Pending::DataFence => self.data_fenced(),
        }
    }
}
