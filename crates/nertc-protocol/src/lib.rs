//! The nertc signaling protocol, version [`PROTOCOL_VERSION`], shared by the engine (client)
//! and the room server. `docs/protocol.md` is the prose specification of the same schema.
//!
//! Wire format: JSON text frames over one WebSocket (`/rtc/v1`). Four frame shapes:
//!
//! ```text
//! {"id": 7, "t": "publish", "d": {...}}             client request (id chosen by the client)
//! {"re": 7, "ok": true, "d": {...}}                 response to request 7
//! {"re": 7, "ok": false, "err": {"code": "...", "msg": "..."}}
//! {"seq": 12, "t": "user_joined", "d": {...}}       room event, per-session increasing seq
//! {"t": "sdp", "d": {...}}                          transport message (no seq, never replayed)
//! ```
//!
//! Parsing is two-stage ([`ClientFrame::parse`]) so that a server can tell malformed JSON,
//! an unknown message type and a bad payload apart and answer each with its own code.
//!
//! Also here: the token format ([`token`]) and the validation rules for channel names and uids
//! ([`validate`]), so the server, the SDK and app backends agree on them.

pub mod token;
pub mod validate;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Version of this schema. Sent in the join request and echoed in the join result.
///
/// Version 2 added
/// - the cluster redirect: a join (or resume) that reaches a node which does not own the room
///   is refused with [`ErrorCode::Redirect`] and the owner's URL in [`ErrorBody::url`]; the
///   client joins again there. A join result may list the cluster's other nodes
///   ([`JoinResult::nodes`]) as fallback entry points;
/// - client roles (`role` in `join`, the `set_role` request, the `audience` leave reason).
///
/// Version 3 added (all of it additive: version 1 and 2 clients are unaffected)
/// - `set_audio_subscribers` (NERTC's `setAudioSubscribeOnlyBy`): who may hear a user's audio;
/// - the data channel: `enable_data`, `subscribe_data`, `data` (client -> server), the
///   `user_data` room event, `data` in [`UserInfo`] and the `data` transport message
///   (docs/protocol.md §13);
/// - simulcast: a published video track may arrive on several m-lines, one per layer: every one
///   is named in [`SdpMsg::pub_mids`] and [`SdpMsg::pub_rids`] gives each one's layer
///   ([`RID_HIGH`], [`RID_LOW`]); a browser may instead send the layers as `a=simulcast` rids on
///   one m-line; [`SubscribeRequest::layer`] is honoured (the SFU forwards that layer, lower when
///   the subscriber's downlink cannot carry it), and a `subscribe` for a track already
///   subscribed changes the layer; the transport message [`TransportMsg::Layers`] tells a
///   publisher which layers of its track someone receives, so that it stops encoding the others;
///   with [`SubscribeRequest::fallback`] 2 the SFU may stop a video subscription altogether while
///   the downlink cannot carry its lowest layer, and tells the subscriber with the transport
///   message [`TransportMsg::Fallback`].
///
/// Version 4 added (additive: version 1 to 3 clients are unaffected)
/// - the SCTP data channel (docs/protocol.md §13.2): for a version-4 session that sends data or
///   may receive someone's, the server adds a data channel labelled [`DATA_CHANNEL_LABEL`]
///   (ordered, reliable, opened in-band) to its `sub` offer — an `m=application` section that
///   [`SdpMsg::sub_mids`] does not name. The client sends its data messages on it as they are
///   (one message per SCTP message) and receives everyone's framed by [`data_frame`]; `data`
///   over signaling keeps working both ways while the channel is not open.
///
/// A version-3 server refuses a version-4 join (`unsupported_protocol`).
pub const PROTOCOL_VERSION: u32 = 4;
/// The first version whose sessions may get the SCTP data channel.
pub const DATA_CHANNEL_VERSION: u32 = 4;
/// The rid of a track's high (full size) layer.
pub const RID_HIGH: &str = "h";
/// The rid of a track's low layer (NERTC's low stream: a quarter of the pixels).
pub const RID_LOW: &str = "l";
/// Oldest version a server still accepts. A version-1 client joins as a broadcaster and cannot
/// follow a redirect, so it only works against a single node or through the room's owner.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Longest join token a server verifies (bytes). A real one is a few hundred bytes; a longer one
/// is refused as `token_malformed` (and a client refuses to send it).
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Path of the WebSocket endpoint.
pub const WS_PATH: &str = "/rtc/v1";
/// Largest text frame either side accepts; larger frames close the socket (code 1009).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// A user id. Non-zero; carried as a JSON number (values above 2^53 lose precision in JS).
pub type Uid = u64;
/// A track id, assigned by the server at `publish` (`"<uid>-<n>"`).
pub type TrackId = String;

// ---------------------------------------------------------------------------------------------
// Client -> server
// ---------------------------------------------------------------------------------------------

/// A parsed client frame: request id (absent for fire-and-forget messages) plus the message.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    pub id: Option<u64>,
    pub msg: ClientMsg,
}

/// Why a client frame could not be parsed; each maps to its own [`ErrorCode`].
#[derive(Debug, Clone, PartialEq)]
pub enum FrameError {
    /// Not JSON, or not an object with a string `t`.
    Malformed(String),
    /// `t` names no message of this protocol.
    UnknownType { id: Option<u64>, t: String },
    /// `t` is known but `d` does not have its shape.
    BadPayload { id: Option<u64>, t: String, why: String },
}

impl FrameError {
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::Malformed(_) => ErrorCode::Malformed,
            FrameError::UnknownType { .. } => ErrorCode::UnknownType,
            FrameError::BadPayload { .. } => ErrorCode::BadRequest,
        }
    }
    pub fn id(&self) -> Option<u64> {
        match self {
            FrameError::Malformed(_) => None,
            FrameError::UnknownType { id, .. } | FrameError::BadPayload { id, .. } => *id,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Malformed(why) => write!(f, "malformed frame: {why}"),
            FrameError::UnknownType { t, .. } => write!(f, "unknown message type {t:?}"),
            FrameError::BadPayload { t, why, .. } => write!(f, "bad {t:?} payload: {why}"),
        }
    }
}

#[derive(Deserialize)]
struct RawClientFrame {
    id: Option<u64>,
    t: String,
    #[serde(default)]
    d: Value,
}

impl ClientFrame {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let raw: RawClientFrame = serde_json::from_str(text).map_err(|e| FrameError::Malformed(e.to_string()))?;
        if !ClientMsg::TYPES.contains(&raw.t.as_str()) {
            return Err(FrameError::UnknownType { id: raw.id, t: raw.t });
        }
        // An absent `d` means an empty payload.
        let d = if raw.d.is_null() { Value::Object(Default::default()) } else { raw.d };
        let tagged = serde_json::json!({ "t": raw.t, "d": d });
        let msg =
            serde_json::from_value(tagged).map_err(|e| FrameError::BadPayload { id: raw.id, t: raw.t.clone(), why: e.to_string() })?;
        Ok(ClientFrame { id: raw.id, msg })
    }

    /// Serialises this frame as the client sends it.
    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(&self.msg).expect("ClientMsg always serialises");
        if let (Some(id), Some(obj)) = (self.id, v.as_object_mut()) {
            obj.insert("id".into(), id.into());
        }
        v.to_string()
    }
}

/// Messages a client sends. Every one but `ice` and `ping` is a request and gets a response
/// (`ping` is answered by a `pong` transport message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "d", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMsg {
    Join(JoinRequest),
    Leave(Empty),
    Publish(PublishRequest),
    Unpublish(TrackRef),
    Mute(MuteRequest),
    Subscribe(SubscribeRequest),
    Unsubscribe(TrackRef),
    Sdp(SdpMsg),
    Ice(IceMsg),
    Ping(Ping),
    /// Protocol 2: switch between broadcaster and audience (response `{}`).
    SetRole(SetRoleRequest),
    /// Protocol 2: a new token for the live session (response [`RenewResult`]).
    RenewToken(RenewTokenRequest),
    /// Protocol 3: who may subscribe to this session's audio (response `{}`).
    SetAudioSubscribers(AudioSubscribersRequest),
    /// Protocol 3: turn this session's data channel on or off (response `{}`).
    EnableData(EnableDataRequest),
    /// Protocol 3: receive (or not) a user's data messages (response `{}`).
    SubscribeData(SubscribeDataRequest),
    /// Protocol 3: a data message for the users subscribed to ours; sent without an id
    /// (no response; a refusal comes as an `error` transport message).
    Data(DataMsg),
    /// Protocol 4: the client's side of its `sub` connection did not come up; the server
    /// replaces the connection (sent without an id, no response).
    Replace(ReplaceMsg),
}

impl ClientMsg {
    /// Every `t` value a client may send.
    pub const TYPES: &'static [&'static str] = &[
        "join",
        "leave",
        "publish",
        "unpublish",
        "mute",
        "subscribe",
        "unsubscribe",
        "sdp",
        "ice",
        "ping",
        "set_role",
        "renew_token",
        "set_audio_subscribers",
        "enable_data",
        "subscribe_data",
        "data",
        "replace",
    ];

    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMsg::Join(_) => "join",
            ClientMsg::Leave(_) => "leave",
            ClientMsg::Publish(_) => "publish",
            ClientMsg::Unpublish(_) => "unpublish",
            ClientMsg::Mute(_) => "mute",
            ClientMsg::Subscribe(_) => "subscribe",
            ClientMsg::Unsubscribe(_) => "unsubscribe",
            ClientMsg::Sdp(_) => "sdp",
            ClientMsg::Ice(_) => "ice",
            ClientMsg::Ping(_) => "ping",
            ClientMsg::SetRole(_) => "set_role",
            ClientMsg::RenewToken(_) => "renew_token",
            ClientMsg::SetAudioSubscribers(_) => "set_audio_subscribers",
            ClientMsg::EnableData(_) => "enable_data",
            ClientMsg::SubscribeData(_) => "subscribe_data",
            ClientMsg::Data(_) => "data",
            ClientMsg::Replace(_) => "replace",
        }
    }
}

/// An empty payload (`{}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// JWT (see [`token`]); `null` or `""` is accepted only by apps in debug mode.
    #[serde(default)]
    pub token: Option<String>,
    pub app_key: String,
    pub channel: String,
    pub uid: Uid,
    /// Display name shown to others in `user_joined`.
    #[serde(default)]
    pub name: String,
    /// The client's protocol version; the server rejects versions it does not speak.
    #[serde(default = "default_protocol")]
    pub protocol: u32,
    /// Present when the client resumes a session whose socket dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
    /// Protocol 2: the role to join with (broadcaster when absent). Ignored on a resume: the
    /// session keeps its role.
    #[serde(default)]
    pub role: Role,
}

/// A session's role (NERTC's `NERtcClientRole`). An audience member receives everything but
/// is invisible to the others (no `user_joined`/`user_left`, not in `users`) and cannot
/// publish (`permission_denied`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Broadcaster,
    Audience,
}

/// The `d` of `renew_token`: a token for the same app, channel and uid as the session's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewTokenRequest {
    pub token: String,
}

/// The `d` of a successful `renew_token` response: what the session may do from now on and
/// when the new token expires (Unix seconds; 0 for a debug app without a secret, whose tokens
/// are not checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewResult {
    pub exp: u64,
    pub can_publish: bool,
    pub can_subscribe: bool,
}

/// The `d` of `set_audio_subscribers`: only these users may subscribe to the session's audio
/// tracks (those in the room when it is sent; an empty list lets everyone again). Others keep
/// their subscriptions but get no audio until they are let in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioSubscribersRequest {
    #[serde(default)]
    pub uids: Vec<Uid>,
}

/// The `d` of `enable_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnableDataRequest {
    pub enabled: bool,
}

/// The `d` of `subscribe_data`: `uid`'s data messages are (not) forwarded to this session
/// (all are by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeDataRequest {
    pub uid: Uid,
    pub subscribe: bool,
}

/// Largest data message (bytes before base64): NERTC's `sendData` limit is not published; this
/// keeps a relayed message (base64, 4/3) well inside one [`MAX_FRAME_BYTES`] frame.
pub const MAX_DATA_BYTES: usize = 32 * 1024;

/// The label of the data channel the server opens on a version-4 `sub` connection.
pub const DATA_CHANNEL_LABEL: &str = "nertc-data";

/// A data message from `uid` as the server sends it on a data channel: the sender's uid as 8
/// bytes big-endian, then the message (1 to [`MAX_DATA_BYTES`] bytes). What a client sends on
/// its data channel is the message alone: the server knows whose connection it came in on.
pub fn data_frame(uid: Uid, data: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(8 + data.len());
    frame.extend_from_slice(&uid.to_be_bytes());
    frame.extend_from_slice(data);
    frame
}

/// The sender and the message of a [`data_frame`]; None when it is too short to be one.
pub fn parse_data_frame(frame: &[u8]) -> Option<(Uid, &[u8])> {
    let (uid, data) = frame.split_first_chunk::<8>()?;
    (!data.is_empty()).then(|| (Uid::from_be_bytes(*uid), data))
}

/// The `d` of a client's `data`: the bytes, base64 (standard alphabet, padded) on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataMsg {
    #[serde(with = "b64")]
    pub data: Vec<u8>,
}

/// Bytes as a base64 string (standard alphabet, padded).
mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD.decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// The `d` of `set_role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRoleRequest {
    pub role: Role,
}

fn default_protocol() -> u32 {
    PROTOCOL_VERSION
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub session_id: String,
    pub resume_token: String,
    /// The last event `seq` the client processed; the server replays everything after it.
    pub last_seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    Mic,
    Camera,
    Screen,
    ScreenAudio,
}

/// One simulcast layer: `rid` [`RID_HIGH`] or [`RID_LOW`] (browsers may use `f`/`h`/`q`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    #[serde(default)]
    pub rid: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(default)]
    pub max_bps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    pub kind: MediaKind,
    pub source: TrackSource,
    /// Preferred codec name (`"opus"`, `"h264"`, `"vp8"`), informational.
    #[serde(default)]
    pub codec: Option<String>,
    #[serde(default)]
    pub layers: Vec<Layer>,
    #[serde(default)]
    pub muted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackRef {
    pub track_id: TrackId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MuteRequest {
    pub track_id: TrackId,
    pub muted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeRequest {
    pub track_id: TrackId,
    /// Wanted layer rid (v3; [`RID_HIGH`] when absent). The SFU forwards this layer, or a
    /// lower one while the subscriber's downlink cannot carry it.
    #[serde(default)]
    pub layer: Option<String>,
    /// Version 3: NERTC's `NERtcStreamFallbackOption` for this subscription: 0 keeps the
    /// layer asked for whatever the downlink, 1 (the default) falls back to the low layer while
    /// the downlink cannot carry the high one, 2 (audio only) as 1 and then stops the video
    /// while the downlink cannot carry the low layer either ([`TransportMsg::Fallback`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<u8>,
}

/// Which of a client's two peer connections a transport message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PcKind {
    /// Client -> server media; the client offers.
    Pub,
    /// Server -> client media; the server offers.
    Sub,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SdpType {
    Offer,
    Answer,
}

/// Where a subscribed m-line's media comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MidInfo {
    pub track_id: TrackId,
    pub uid: Uid,
    pub kind: MediaKind,
}

/// An SDP offer or answer. Client -> server: a `pub` offer (request; the response `d` is the
/// server's answer, an `SdpMsg`) or a `sub` answer (request; response `{}`).
/// Server -> client: a `sub` offer (transport message), carrying `mids`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SdpMsg {
    pub pc: PcKind,
    #[serde(rename = "type")]
    pub kind: SdpType,
    pub sdp: String,
    /// Negotiation number, increasing per peer connection; an answer echoes its offer's.
    #[serde(default)]
    pub neg: u64,
    /// `pub` offers: m-line mid -> the `track_id` returned by `publish`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pub_mids: BTreeMap<String, TrackId>,
    /// `sub` offers: m-line mid -> where its media comes from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sub_mids: BTreeMap<String, MidInfo>,
    /// `pub` offers (v3): m-line mid -> the simulcast layer (rid) it carries, for a track sent
    /// as one m-line per layer (each also in `pub_mids`). A mid not listed is the high layer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pub_rids: BTreeMap<String, String>,
    /// Offers only: this offer comes from a new peer connection that replaces the current one
    /// of this kind (which never connected, e.g. its DTLS handshake gave up under heavy loss).
    /// The answerer closes its connection of this kind and answers from a new one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fresh: bool,
}

impl SdpMsg {
    /// An answer to offer `neg` of connection `pc` (answers name no tracks or layers).
    pub fn answer(pc: PcKind, sdp: String, neg: u64) -> Self {
        SdpMsg {
            pc,
            kind: SdpType::Answer,
            sdp,
            neg,
            pub_mids: BTreeMap::new(),
            sub_mids: BTreeMap::new(),
            pub_rids: BTreeMap::new(),
            fresh: false,
        }
    }
}

/// A trickled ICE candidate (the fields of the W3C `RTCIceCandidateInit`), or its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IceMsg {
    pub pc: PcKind,
    #[serde(default)]
    pub candidate: String,
    #[serde(default, rename = "sdpMid")]
    pub sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
    /// True marks the end of candidates; `candidate` is then empty.
    #[serde(default)]
    pub end: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Client clock in ms, echoed in the `pong`.
    #[serde(default)]
    pub ts: u64,
}

// ---------------------------------------------------------------------------------------------
// Server -> client
// ---------------------------------------------------------------------------------------------

/// The `d` of a successful `join` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinResult {
    pub protocol: u32,
    pub session_id: String,
    pub resume_token: String,
    pub resume_window_ms: u64,
    pub ping_interval_ms: u64,
    pub ping_timeout_ms: u64,
    /// The room's numeric id (NERTC's `cid`), stable for the room's lifetime.
    pub cid: u64,
    pub channel: String,
    pub uid: Uid,
    /// Everyone else in the room and their live tracks.
    pub users: Vec<UserInfo>,
    /// The `seq` of the last event this session has been sent (0 for a fresh session).
    pub seq: u64,
    /// Present on a resume: the replayed events' range follows as ordinary event frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<Resumed>,
    /// May this session publish / subscribe (from the token, all true in debug apps).
    pub can_publish: bool,
    pub can_subscribe: bool,
    /// Cluster mode (v2): the `public_url` of the cluster's other live nodes, for the client to
    /// enter through when this node stops answering. Empty (and absent) on a single node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

/// The `d` of a successful `publish` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResult {
    pub track_id: TrackId,
}

/// The `d` of a successful `subscribe` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeResult {
    pub state: SubscriptionState,
}

/// A successful response, typed by the request it answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Join(Box<JoinResult>),
    Publish(PublishResult),
    Subscribe(SubscribeResult),
    /// The answer to a `pub` offer.
    PubAnswer(SdpMsg),
    Renew(RenewResult),
    /// `{}`: leave, unpublish, mute, unsubscribe, a `sub` answer.
    Ack,
}

impl Reply {
    /// Parses the `d` of a successful response to a request of type `request` (a
    /// [`ClientMsg::type_name`]); `pub_offer` tells an `sdp` offer from an answer.
    pub fn parse(request: &str, pub_offer: bool, d: Value) -> Result<Reply, String> {
        let typed = |r: Result<Reply, serde_json::Error>| r.map_err(|e| format!("bad {request} response: {e}"));
        match request {
            "join" => typed(serde_json::from_value(d).map(|j| Reply::Join(Box::new(j)))),
            "publish" => typed(serde_json::from_value(d).map(Reply::Publish)),
            "subscribe" => typed(serde_json::from_value(d).map(Reply::Subscribe)),
            "renew_token" => typed(serde_json::from_value(d).map(Reply::Renew)),
            "sdp" if pub_offer => typed(serde_json::from_value(d).map(Reply::PubAnswer)),
            _ => Ok(Reply::Ack),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumed {
    /// First and last replayed `seq` (equal to `to + 1 == from` when nothing was missed).
    pub from: u64,
    pub to: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    pub uid: Uid,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tracks: Vec<TrackInfo>,
    /// Protocol 3: the user's data channel is on.
    #[serde(default)]
    pub data: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackInfo {
    pub track_id: TrackId,
    pub kind: MediaKind,
    pub source: TrackSource,
    pub muted: bool,
    /// Negotiated codec mime type, e.g. `video/H264`.
    pub codec: String,
    #[serde(default)]
    pub layers: Vec<Layer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The user called leave.
    Leave,
    /// The socket dropped and the resume window passed (or pings stopped).
    Timeout,
    /// A new join with the same uid took over.
    Replaced,
    /// Removed by the server (flooding, protocol abuse, admin).
    Kicked,
    /// The server is shutting down.
    ServerShutdown,
    /// Protocol 2: the user switched to the audience role (it stays in the room, unseen).
    Audience,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// Accepted, waiting for the track's media or the negotiation.
    Pending,
    /// Media is being forwarded.
    Active,
    /// The track went away; the subscription is gone.
    Ended,
}

/// Room events. Each is sent with a per-session `seq` and kept for replay on resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "d", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoomEvent {
    UserJoined {
        uid: Uid,
        name: String,
    },
    UserLeft {
        uid: Uid,
        reason: LeaveReason,
    },
    TrackPublished {
        uid: Uid,
        track: TrackInfo,
    },
    TrackUnpublished {
        uid: Uid,
        track_id: TrackId,
    },
    TrackMuted {
        uid: Uid,
        track_id: TrackId,
        muted: bool,
    },
    Subscription {
        track_id: TrackId,
        state: SubscriptionState,
    },
    /// Protocol 3: a user turned its data channel on or off.
    UserData {
        uid: Uid,
        enabled: bool,
    },
}

/// Transport messages: never numbered, never replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "d", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransportMsg {
    Sdp(SdpMsg),
    Ice(IceMsg),
    Pong(Ping),
    /// The server ends this session; the socket closes right after.
    Leave {
        reason: LeaveReason,
    },
    /// An error not tied to a request (e.g. a frame without an id could not be handled).
    Error(ErrorBody),
    /// Protocol 3: a data message from `uid` (in the order `uid` sent them).
    Data {
        uid: Uid,
        #[serde(with = "b64")]
        data: Vec<u8>,
    },
    /// Version 3, to a publisher of a track with several layers: the layers (rids) that
    /// someone receives, or waits to receive, now. The publisher encodes these and pauses the
    /// others; sent whenever the set changes, and not before the track has a subscriber (a
    /// publisher encodes every layer until told).
    Layers(LayersMsg),
    /// Version 3, to a subscriber whose `subscribe` asked for `fallback` 2 (audio only): the
    /// server stopped forwarding this video track because the subscriber's downlink cannot
    /// carry even its lowest layer (`audio_only: true`), or resumed it (`false`).
    Fallback(FallbackMsg),
    /// Version 4, to a session whose data channel the server has just started to use: the
    /// data messages to it come on the channel from now on, and every one sent on the socket
    /// came before this (a client holds what the channel brings until it has seen this).
    DataChannel {},
    /// Protocol 4: the server's side of the client's `pub` connection did not come up; the
    /// client replaces the connection (a `fresh` offer).
    Replace(ReplaceMsg),
}

/// The answerer's side of a peer connection did not come up 10 s after it
/// applied the connection's first offer, although the offerer's may have: the offerer replaces
/// the connection (docs/protocol.md §8.8b). `neg`: the last offer of that connection the
/// answerer applied (an offerer that has replaced it since ignores the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaceMsg {
    pub pc: PcKind,
    pub neg: u64,
}

/// [`TransportMsg::Fallback`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackMsg {
    pub track_id: TrackId,
    pub audio_only: bool,
}

/// [`TransportMsg::Layers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayersMsg {
    pub track_id: TrackId,
    pub active: Vec<String>,
}

/// Error codes. Serialised in snake_case; `docs/protocol.md` lists when each is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    Malformed,
    UnknownType,
    BadRequest,
    UnsupportedProtocol,
    NotJoined,
    AlreadyJoined,
    InvalidAppKey,
    InvalidChannel,
    InvalidUid,
    TokenMissing,
    TokenMalformed,
    TokenBadSignature,
    TokenExpired,
    TokenWrongApp,
    TokenWrongChannel,
    TokenWrongUid,
    PermissionDenied,
    TrackNotFound,
    BadSdp,
    ResumeFailed,
    RateLimited,
    /// Cluster mode (v2): the room lives on another node; join again at [`ErrorBody::url`].
    Redirect,
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::Malformed,
        ErrorCode::UnknownType,
        ErrorCode::BadRequest,
        ErrorCode::UnsupportedProtocol,
        ErrorCode::NotJoined,
        ErrorCode::AlreadyJoined,
        ErrorCode::InvalidAppKey,
        ErrorCode::InvalidChannel,
        ErrorCode::InvalidUid,
        ErrorCode::TokenMissing,
        ErrorCode::TokenMalformed,
        ErrorCode::TokenBadSignature,
        ErrorCode::TokenExpired,
        ErrorCode::TokenWrongApp,
        ErrorCode::TokenWrongChannel,
        ErrorCode::TokenWrongUid,
        ErrorCode::PermissionDenied,
        ErrorCode::TrackNotFound,
        ErrorCode::BadSdp,
        ErrorCode::ResumeFailed,
        ErrorCode::RateLimited,
        ErrorCode::Redirect,
        ErrorCode::Internal,
    ];

    /// The snake_case name as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnsupportedProtocol => "unsupported_protocol",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::InvalidAppKey => "invalid_app_key",
            ErrorCode::InvalidChannel => "invalid_channel",
            ErrorCode::InvalidUid => "invalid_uid",
            ErrorCode::TokenMissing => "token_missing",
            ErrorCode::TokenMalformed => "token_malformed",
            ErrorCode::TokenBadSignature => "token_bad_signature",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::TokenWrongApp => "token_wrong_app",
            ErrorCode::TokenWrongChannel => "token_wrong_channel",
            ErrorCode::TokenWrongUid => "token_wrong_uid",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::TrackNotFound => "track_not_found",
            ErrorCode::BadSdp => "bad_sdp",
            ErrorCode::ResumeFailed => "resume_failed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Redirect => "redirect",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub msg: String,
    /// With [`ErrorCode::Redirect`]: the `ws://host:port` of the node that owns the room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        ErrorBody { code, msg: msg.into(), url: None }
    }

    /// A join refused because the room lives on the node at `url`.
    pub fn redirect(url: impl Into<String>) -> Self {
        let url = url.into();
        ErrorBody { code: ErrorCode::Redirect, msg: format!("the room lives on {url}; join there"), url: Some(url) }
    }

    /// The node to join at, when this is a redirect.
    pub fn redirect_url(&self) -> Option<&str> {
        if self.code == ErrorCode::Redirect { self.url.as_deref() } else { None }
    }
}

/// How many redirects a client follows for one join before giving up (a placement that moves
/// while the client follows it can take a second hop; more means something is wrong).
pub const MAX_REDIRECTS: usize = 3;

/// A frame the server sends, in its three shapes (plus responses).
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    Response { re: u64, result: Result<Value, ErrorBody> },
    Event { seq: u64, event: RoomEvent },
    Transport(TransportMsg),
}

impl ServerFrame {
    pub fn ok(re: u64, d: impl Serialize) -> Self {
        let d = serde_json::to_value(d).expect("response payloads always serialise");
        ServerFrame::Response { re, result: Ok(d) }
    }

    pub fn err(re: u64, code: ErrorCode, msg: impl Into<String>) -> Self {
        ServerFrame::Response { re, result: Err(ErrorBody::new(code, msg)) }
    }

    pub fn to_json(&self) -> String {
        match self {
            ServerFrame::Response { re, result: Ok(d) } => serde_json::json!({ "re": re, "ok": true, "d": d }).to_string(),
            ServerFrame::Response { re, result: Err(e) } => serde_json::json!({ "re": re, "ok": false, "err": e }).to_string(),
            ServerFrame::Event { seq, event } => {
                let mut v = serde_json::to_value(event).expect("RoomEvent always serialises");
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("seq".into(), (*seq).into());
                }
                v.to_string()
            }
            ServerFrame::Transport(m) => serde_json::to_string(m).expect("TransportMsg always serialises"),
        }
    }

    /// Parses a server frame (used by clients and tests).
    pub fn parse(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let obj = v.as_object().ok_or("frame is not an object")?;
        if let Some(re) = obj.get("re").and_then(Value::as_u64) {
            let ok = obj.get("ok").and_then(Value::as_bool).ok_or("response without ok")?;
            let result = if ok {
                Ok(obj.get("d").cloned().unwrap_or(Value::Null))
            } else {
                let err = obj.get("err").cloned().ok_or("error response without err")?;
                Err(serde_json::from_value(err).map_err(|e| e.to_string())?)
            };
            return Ok(ServerFrame::Response { re, result });
        }
        if let Some(seq) = obj.get("seq").and_then(Value::as_u64) {
            let mut ev = obj.clone();
            ev.remove("seq");
            let event = serde_json::from_value(Value::Object(ev)).map_err(|e| e.to_string())?;
            return Ok(ServerFrame::Event { seq, event });
        }
        let m = serde_json::from_value(v).map_err(|e| e.to_string())?;
        Ok(ServerFrame::Transport(m))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn data_frames_round_trip() {
        let frame = super::data_frame(0x0102_0304_0506_0708, b"hi");
        assert_eq!(frame, [1, 2, 3, 4, 5, 6, 7, 8, b'h', b'i']);
        assert_eq!(super::parse_data_frame(&frame), Some((0x0102_0304_0506_0708, &b"hi"[..])));
        assert_eq!(super::parse_data_frame(&frame[..8]), None, "no message");
        assert_eq!(super::parse_data_frame(&frame[..5]), None, "no uid");
    }

    use super::*;

    /// Protocol 3's data messages carry bytes as standard padded base64, both ways; bad base64
    /// is a bad payload.
    #[test]
    fn data_messages_are_base64() {
        let f = ClientFrame::parse(r#"{"t":"data","d":{"data":"AP8BAg=="}}"#).expect("parses");
        assert_eq!(f.msg, ClientMsg::Data(DataMsg { data: vec![0, 255, 1, 2] }));
        assert_eq!(f.to_json(), r#"{"d":{"data":"AP8BAg=="},"t":"data"}"#);
        assert!(matches!(ClientFrame::parse(r#"{"t":"data","d":{"data":"*"}}"#), Err(FrameError::BadPayload { .. })));
        let out = ServerFrame::Transport(TransportMsg::Data { uid: 7, data: b"hi".to_vec() });
        assert_eq!(out.to_json(), r#"{"t":"data","d":{"uid":7,"data":"aGk="}}"#);
        assert_eq!(ServerFrame::parse(&out.to_json()), Ok(out));
        let ev = ServerFrame::Event { seq: 3, event: RoomEvent::UserData { uid: 7, enabled: true } };
        assert_eq!(ServerFrame::parse(&ev.to_json()), Ok(ev));
        let user: UserInfo = serde_json::from_str(r#"{"uid":7}"#).expect("a version-2 UserInfo");
        assert!(!user.data, "absent means off");
    }

    #[test]
    fn client_frames_round_trip() {
        let f = ClientFrame {
            id: Some(3),
            msg: ClientMsg::Join(JoinRequest {
                token: None,
                app_key: "demo".into(),
                channel: "room 1".into(),
                uid: 42,
                name: "bob".into(),
                protocol: PROTOCOL_VERSION,
                resume: None,
                role: Role::Audience,
            }),
        };
        assert_eq!(ClientFrame::parse(&f.to_json()).unwrap(), f);
        let set_role = ClientFrame::parse(r#"{"id":2,"t":"set_role","d":{"role":"audience"}}"#).unwrap();
        assert_eq!(set_role.msg, ClientMsg::SetRole(SetRoleRequest { role: Role::Audience }));
        // A version 1 join has no role: a broadcaster.
        let v1 = ClientFrame::parse(r#"{"id":1,"t":"join","d":{"app_key":"a","channel":"c","uid":1,"protocol":1}}"#).unwrap();
        assert!(matches!(v1.msg, ClientMsg::Join(JoinRequest { role: Role::Broadcaster, protocol: 1, .. })));
        let leave = ClientFrame::parse(r#"{"id":1,"t":"leave"}"#).unwrap();
        assert_eq!(leave.msg, ClientMsg::Leave(Empty {}));
    }

    #[test]
    fn parse_errors_are_distinct() {
        assert_eq!(ClientFrame::parse("{nope").unwrap_err().code(), ErrorCode::Malformed);
        assert_eq!(ClientFrame::parse("[1,2]").unwrap_err().code(), ErrorCode::Malformed);
        let e = ClientFrame::parse(r#"{"id":9,"t":"dance","d":{}}"#).unwrap_err();
        assert_eq!((e.code(), e.id()), (ErrorCode::UnknownType, Some(9)));
        let e = ClientFrame::parse(r#"{"id":4,"t":"join","d":{"uid":"x"}}"#).unwrap_err();
        assert_eq!((e.code(), e.id()), (ErrorCode::BadRequest, Some(4)));
    }

    #[test]
    fn server_frames_round_trip() {
        let frames = [
            ServerFrame::ok(1, Empty {}),
            ServerFrame::err(2, ErrorCode::TokenExpired, "expired"),
            ServerFrame::Response { re: 3, result: Err(ErrorBody::redirect("ws://10.0.0.2:8480")) },
            ServerFrame::Event { seq: 5, event: RoomEvent::UserJoined { uid: 7, name: "a".into() } },
            ServerFrame::Transport(TransportMsg::Leave { reason: LeaveReason::Replaced }),
            ServerFrame::Transport(TransportMsg::Pong(Ping { ts: 12 })),
            ServerFrame::Transport(TransportMsg::Fallback(FallbackMsg { track_id: "1-1".into(), audio_only: true })),
            ServerFrame::Transport(TransportMsg::DataChannel {}),
        ];
        for f in frames {
            let json = f.to_json();
            assert_eq!(ServerFrame::parse(&json).unwrap(), f, "{json}");
        }
        let ev = ServerFrame::Event { seq: 9, event: RoomEvent::UserLeft { uid: 1, reason: LeaveReason::Timeout } };
        assert_eq!(ev.to_json(), r#"{"d":{"reason":"timeout","uid":1},"seq":9,"t":"user_left"}"#);
        let fb = ServerFrame::Transport(TransportMsg::Fallback(FallbackMsg { track_id: "1-1".into(), audio_only: false }));
        let wire: Value = serde_json::from_str(&fb.to_json()).unwrap();
        assert_eq!(wire, serde_json::json!({"t": "fallback", "d": {"track_id": "1-1", "audio_only": false}}));
    }

    #[test]
    fn error_code_names_match_serde() {
        for code in ErrorCode::ALL {
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!(wire, Value::String(code.as_str().into()));
        }
    }

    #[test]
    fn typed_replies() {
        let r = Reply::parse("publish", false, serde_json::json!({"track_id": "7-1"})).unwrap();
        assert_eq!(r, Reply::Publish(PublishResult { track_id: "7-1".into() }));
        let r = Reply::parse("subscribe", false, serde_json::json!({"state": "pending"})).unwrap();
        assert_eq!(r, Reply::Subscribe(SubscribeResult { state: SubscriptionState::Pending }));
        assert_eq!(Reply::parse("mute", false, serde_json::json!({})).unwrap(), Reply::Ack);
        let r = Reply::parse("renew_token", false, serde_json::json!({"exp": 9, "can_publish": false, "can_subscribe": true})).unwrap();
        assert_eq!(r, Reply::Renew(RenewResult { exp: 9, can_publish: false, can_subscribe: true }));
        assert!(Reply::parse("renew_token", false, serde_json::json!({})).is_err());
        assert_eq!(Reply::parse("sdp", false, serde_json::json!({})).unwrap(), Reply::Ack);
        assert!(Reply::parse("publish", false, serde_json::json!({})).unwrap_err().contains("bad publish response"));
        assert!(Reply::parse("sdp", true, serde_json::json!({})).is_err());
    }
}
