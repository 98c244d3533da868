'use strict';
// nertc-electron-sdk: the JS layer over the native addon (src/ at the repository root).
//
// The native side keeps one latest-frame slot per video stream and delivers engine events
// through one thread-safe function. This file:
//   - exposes NERtcEngine (an EventEmitter with NERTC's method names, argument orders and
//     result codes) and NERtcServer (the embedded room server);
//   - re-emits native events on a later tick (setImmediate) with positional arguments, each
//     listener call guarded so a throwing handler is logged and reported as
//     onWarning(30900, msg) instead of crashing the process;
//   - runs the frame pump: one unref'd interval per engine that copies the newest frame of each
//     bound canvas into JS-owned planes (allocated once per canvas, reallocated only when the
//     size changes) and hands them to the canvas's renderer (`view.drawFrame(frame)`);
//   - keeps Node alive like an open socket while the engine is in a channel (from a successful
//     joinChannel until onLeaveChannel, a failed join or a disconnect) and, after release(),
//     until the native engine has delivered its last event (bounded by RELEASE_LINGER_MS).
//     An initialized but idle engine never keeps Node alive (the native event callback is weak).

const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');

// ---------------------------------------------------------------------------------------------
// Native addon
//
// Looked for in this order: NERTC_NATIVE_PATH; a local build next to this file
// (`nertc-electron-sdk.<platform>.node`, written by `npm run build` / `npm run build:dev`); the
// prebuilt package `nertc-electron-sdk-<platform>`, an optionalDependency that npm installs only
// where its os/cpu/libc match. Inside an Electron asar archive the .node must be unpacked
// (electron-builder `asarUnpack`); Electron then loads it from app.asar.unpacked.

/** The platforms with a prebuilt package (scripts/platforms.js builds and packs them). */
const PREBUILT_PLATFORMS = ['linux-x64-gnu', 'linux-arm64-gnu', 'darwin-x64', 'darwin-arm64', 'win32-x64-msvc'];

function isMusl() {
  try {
    return !process.report.getReport().header.glibcVersionRuntime;
  } catch {
    return false; // no process.report (some embedders): assume glibc
  }
}

/** This process's platform suffixes, best first (e.g. `linux-x64-gnu`). */
function platformSuffixes() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const abis = arch === 'arm' ? ['gnueabihf', 'musleabihf'] : ['gnu', 'musl'];
    if (isMusl()) abis.reverse();
    return abis.map((abi) => `linux-${arch}-${abi}`);
  }
  if (platform === 'win32') return [`win32-${arch}-msvc`, `win32-${arch}-gnu`];
  if (platform === 'darwin') return [`darwin-${arch}`, 'darwin-universal'];
  return [`${platform}-${arch}`];
}

function loadNative() {
  const suffixes = platformSuffixes();
  const tried = [];
  const attempt = (what, load) => {
    try {
      return { module: load() };
    } catch (e) {
      const absent = e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(`'${what}'`);
      tried.push(`${what}: ${absent ? 'not installed' : e && e.message}`);
      return null;
    }
  };
  const files = [];
  if (process.env.NERTC_NATIVE_PATH) files.push(path.resolve(process.env.NERTC_NATIVE_PATH));
  files.push(...suffixes.map((s) => path.join(__dirname, `nertc-electron-sdk.${s}.node`)));
  for (const file of files) {
    if (!fs.existsSync(file)) {
      tried.push(`${file}: not found`);
      continue;
    }
    const r = attempt(file, () => require(file));
    if (r) return r.module;
  }
  for (const s of suffixes) {
    const r = attempt(`nertc-electron-sdk-${s}`, () => require(`nertc-electron-sdk-${s}`));
    if (r) return r.module;
  }
  const platform = suffixes[0];
  const napi = process.versions.napi ? `Node-API ${process.versions.napi}` : 'no Node-API version';
  const advice = PREBUILT_PLATFORMS.includes(platform)
    ? `Its prebuilt is the package nertc-electron-sdk-${platform}, an optional dependency: reinstall ` +
      'without --omit=optional / --no-optional, on this platform (node_modules copied from another ' +
      'platform lacks it), or build from source (`npm run build` in a checkout).'
    : `No prebuilt exists for ${platform} (prebuilts: ${PREBUILT_PLATFORMS.join(', ')}); build from ` +
      'source (`npm run build` in a checkout, needs Rust).';
  throw new Error(
    `nertc-electron-sdk: no native addon loads on ${platform} (${napi}; the addon needs Node-API 9). ` +
      `${advice}\nTried:\n  ${tried.join('\n  ')}`,
  );
}

const native = loadNative();

// ---------------------------------------------------------------------------------------------
// Codes and constants

/**
 * Every result code the SDK returns (the same list as the engine's `error::ALL`), with NERTC's
 * numbers (`NERtcErrorCode`, below, has NERTC's own names for them). Descriptions:
 * `getErrorDescription(code)`. Codes this SDK adds beyond NERTC's are in OWN_CODE_RANGE.
 */
const ErrorCode = Object.freeze({
  OK: 0,
  ERR_FATAL: 30001,
  ERR_INVALID_PARAM: 30003,
  /** A NERTC method or feature this SDK does not have. */
  ERR_NOT_SUPPORTED: 30004,
  /** Every state error: not initialized, released, or the wrong moment for the call. */
  ERR_INVALID_STATE: 30005,
  ERR_DEVICE_NOT_FOUND: 30008,
  ERR_INVALID_VIDEO_PROFILE: 30010,
  ERR_INVALID_RENDER: 30012,
  ERR_CONNECT_FAIL: 30015,
  ERR_ALREADY_JOINED: 30100,
  ERR_NOT_JOINED: 30101,
  ERR_REQUEST_JOIN_FAILED: 30103,
  ERR_INVALID_USER_ID: 30106,
  /** Media that does not decrypt: enableEncryption's mode or key differs, or is on one side only (onError). */
  ERR_ENCRYPT_NOT_SUITABLE: 30113,
  ERR_MEDIA_DISCONNECTED: 30204,
  ERR_SIGNAL_DISCONNECTED: 30205,
  ERR_KICKED: 30206,
  ERR_ROOM_CLOSED: 30207,
  ERR_PERMISSION_DENIED: 403,
  ERR_JOIN_TIMEOUT: 20101,
  WARN_HANDLER_THREW: 30900,
  ERR_BUSY: 30901,
  // Former names (before the codes followed NERTC's numbering), same values as above.
  ERR_NOT_INITIALIZED: 30005,
  ERR_WRONG_STATE: 30005,
  ERR_CONNECT_FAILED: 30015,
  ERR_TOKEN: 403,
  ERR_PERMISSION: 403,
  ERR_JOIN_FAILED: 30103,
  ERR_APP_KEY: 403,
});

/** Codes this SDK adds beyond NERTC's (NERTC's `NERtcErrorCode` uses none of them). */
const OWN_CODE_RANGE = Object.freeze({ min: 30900, max: 30999 });

// NERTC 5.x's enums under NERTC's names (its `defs.ts`; nertc-api/nertc-5x.json names the
// commit). Numeric ones map both ways like a compiled TypeScript enum:
// `NERtcErrorCode.kNERtcErrNotSupported === 30004`, `NERtcErrorCode[30004] === 'kNERtcErrNotSupported'`.

function nertcEnum(members) {
  const e = {};
  for (const [k, v] of Object.entries(members)) {
    e[k] = v;
    if (typeof v === 'number') e[v] = k;
  }
  return Object.freeze(e);
}

const NERtcLogLevel = nertcEnum({
  kNERtcLogLevelFatal: 0, kNERtcLogLevelError: 1, kNERtcLogLevelWarning: 2, kNERtcLogLevelInfo: 3, kNERtcLogLevelDetailInfo: 4,
  kNERtcLogLevelVerbos: 5, kNERtcLogLevelDebug: 6, kNERtcLogLevelOff: 7,
});
const NERtcRangeAudioMode = nertcEnum({
  NERtcRangeAudioModeDefault: 0, NERtcRangeAudioModeTeam: 1,
});
const NERtcChannelProfileType = nertcEnum({
  kNERtcChannelProfileCommunication: 0, kNERtcChannelProfileLiveBroadcasting: 1,
});
const NERtcRemoteVideoStreamType = nertcEnum({
  kNERtcRemoteVideoStreamTypeHigh: 0, kNERtcRemoteVideoStreamTypeLow: 1, kNERtcRemoteVideoStreamTypeNone: 2,
});
const NERtcErrorCode = nertcEnum({
  kNERtcNoError: 0, kNERtcErrChannelReservePermissionDenied: 403, kNERtcErrChannelReserveTimeOut: 408,
  kNERtcErrChannelReserveErrorParam: 414, kNERtcErrChannelReserveServerFail: 500, kNERtcErrChannelReserveMoreThanTwoUser: 600,
  kNERtcErrLsTaskRequestInvalid: 1301, kNERtcErrLsTaskIsInvaild: 1400, kNERtcErrLsTaskRoomExited: 1401,
  kNERtcErrLsTaskNumLimit: 1402, kNERtcErrLsTaskDuplicateId: 1403, kNERtcErrLsTaskNotFound: 1404,
  kNERtcErrLsTaskRequestErr: 1417, kNERtcErrLsTaskInternalServerErr: 1500, kNERtcErrLsTaskInvalidLayout: 1501,
  kNERtcErrLsTaskUserPicErr: 1512, kNERtcErrChannelStartFail: 11000, kNERtcErrChannelDisconnected: 11001,
  kNERtcErrVersionSelfLow: 11002, kNERtcErrVersionRemoteLow: 11003, kNERtcErrChannelClosed: 11004,
  kNERtcErrChannelKicked: 11005, kNERtcErrDataError: 11400, kNERtcErrInvalid: 11403, kNERtcErrChannelJoinTimeOut: 20101,
  kNERtcErrChannelJoinMeetingModeError: 20102, kNERtcErrChannelJoinRtmpModeError: 20103,
  kNERtcErrChannelJoinRtmpNodesError: 20104, kNERtcErrChannelJoinRtmpHostError: 20105,
  kNERtcErrChannelJoinRtmpCreateError: 20106, kNERtcErrChannelJoinLayoutError: 20208, kNERtcErrChannelJoinInvalidParam: 20400,
  kNERtcErrChannelJoinDesKey: 20401, kNERtcErrChannelJoinInvalidRequst: 20417, kNERtcErrChannelServerUnknown: 20500,
  kNERtcErrFatal: 30001, kNERtcErrOutOfMemory: 30002, kNERtcErrInvalidParam: 30003, kNERtcErrNotSupported: 30004,
  kNERtcErrInvalidState: 30005, kNERtcErrLackOfResource: 30006, kNERtcErrInvalidIndex: 30007, kNERtcErrDeviceNotFound: 30008,
  kNERtcErrInvalidDeviceSourceID: 30009, kNERtcErrInvalidVideoProfile: 30010, kNERtcErrCreateDeviceSourceFail: 30011,
  kNERtcErrInvalidRender: 30012, kNERtcErrDevicePreviewAlreadyStarted: 30013, kNERtcErrTransmitPendding: 30014,
  kNERtcErrConnectFail: 30015, kNERtcErrCreateDumpFileFail: 30016, kNERtcErrStartDumpFail: 30017,
  kNERtcErrDesktopCaptureInvalidState: 30020, kNERtcErrDesktopCaptureInvalidParam: 30021,
  kNERtcErrDesktopCaptureNotReady: 30022, kNERtcErrChannelAlreadyJoined: 30100, kNERtcErrChannelNotJoined: 30101,
  kNERtcErrChannelRepleatedlyLeave: 30102, kNERtcErrRequestJoinChannelFail: 30103, kNERtcErrSessionNotFound: 30104,
  kNERtcErrUserNotFound: 30105, kNERtcErrInvalidUserID: 30106, kNERtcErrMediaNotStarted: 30107, kNERtcErrSourceNotFound: 30108,
  kNERtcErrConnectionNotFound: 30200, kNERtcErrStreamNotFound: 30201, kNERtcErrAddTrackFail: 30202,
  kNERtcErrTrackNotFound: 30203, kNERtcErrMediaConnectionDisconnected: 30204, kNERtcErrSignalDisconnected: 30205,
  kNERtcErrServerKicked: 30206, kNERtcErrKickedForRoomClosed: 30207, kNERtcRuntimeErrADMNoAuthorize: 40000,
  kNERtcRuntimeErrVDMNoAuthorize: 50000, kNERtcRuntimeErrScreenCaptureNoAuthorize: 60000,
});
const NERtcSessionLeaveReason = nertcEnum({
  kNERtcSessionLeaveNormal: 0, kNERtcSessionLeaveForFailOver: 1, kNERtcSessionLeaveUpdate: 2, kNERtcSessionLeaveForKick: 3,
  kNERtcSessionLeaveTimeOut: 4,
});
const NERtcVideoProfileType = nertcEnum({
  kNERtcVideoProfileLowest: 0, kNERtcVideoProfileLow: 1, kNERtcVideoProfileStandard: 2, kNERtcVideoProfileHD720P: 3,
  kNERtcVideoProfileHD1080P: 4, kNERtcVideoProfileNone: 5, kNERtcVideoProfileMAX: 4, kNERtcVideoProfileFake: 6,
});
const NERtcVideoScalingMode = nertcEnum({
  kNERtcVideoScaleFit: 0, kNERtcVideoScaleFullFill: 1, kNERtcVideoScaleCropFill: 2,
});
const NERtcVideoMirrorMode = nertcEnum({
  kNERtcVideoMirrorModeAuto: 0, kNERtcVideoMirrorModeEnabled: 1, kNERtcVideoMirrorModeDisabled: 2,
});
const NERtcVideoOutputOrientationMode = nertcEnum({
  kNERtcVideoOutputOrientationModeAdaptative: 0, kNERtcVideoOutputOrientationModeFixedLandscape: 1,
  kNERtcVideoOutputOrientationModeFixedPortrait: 2,
});
const NERtcRawAudioFrameOpModeType = nertcEnum({
  kNERtcRawAudioFrameOpModeReadOnly: 0, kNERtcRawAudioFrameOpModeReadWrite: 1,
});
const NERtcAudioProfileType = nertcEnum({
  kNERtcAudioProfileDefault: 0, kNERtcAudioProfileStandard: 1, kNERtcAudioProfileStandardExtend: 2,
  kNERtcAudioProfileMiddleQuality: 3, kNERtcAudioProfileMiddleQualityStereo: 4, kNERtcAudioProfileHighQuality: 5,
  kNERtcAudioProfileHighQualityStereo: 6,
});
const NERtcAudioScenarioType = nertcEnum({
  kNERtcAudioScenarioDefault: 0, kNERtcAudioScenarioSpeech: 1, kNERtcAudioScenarioMusic: 2,
});
const NERtcVideoCropMode = nertcEnum({
  kNERtcVideoCropModeDefault: 0, kNERtcVideoCropMode16x9: 1, kNERtcVideoCropMode4x3: 2, kNERtcVideoCropMode1x1: 3,
});
const NERtcVideoFramerateType = nertcEnum({
  kNERtcVideoFramerateFpsDefault: 0, kNERtcVideoFramerateFps_7: 7, kNERtcVideoFramerateFps_10: 10,
  kNERtcVideoFramerateFps_15: 15, kNERtcVideoFramerateFps_24: 24, kNERtcVideoFramerateFps_30: 30,
  kNERtcVideoFramerateFps_60: 60,
});
const NERtcDegradationPreference = nertcEnum({
  kNERtcDegradationDefault: 0, kNERtcDegradationMaintainFramerate: 1, kNERtcDegradationMaintainQuality: 2,
  kNERtcDegradationBalanced: 3,
});
const NERtcAudioStreamType = nertcEnum({
  kNERtcAudioStreamTypeMain: 0, kNERtcAudioStreamTypeSub: 1,
});
const NERtcDistanceRolloffModel = nertcEnum({
  kNERtcDistanceRolloffLogarithmic: 0, kNERtcDistanceRolloffLinear: 1, kNERtcDistanceRolloffNone: 2,
});
const NERtcScreenProfileType = nertcEnum({
  kNERtcScreenProfile480P: 0, kNERtcScreenProfileHD720P: 1, kNERtcScreenProfileHD1080P: 2, kNERtcScreenProfileCustom: 3,
  kNERtcScreenProfileNone: 4, kNERtcScreenProfileMAX: 2,
});
const NERtcSubStreamContentPrefer = nertcEnum({
  kNERtcSubStreamContentPreferMotion: 0, kNERtcSubStreamContentPreferDetails: 1,
});
const NERtcMediaPriorityType = nertcEnum({
  kNERtcMediaPriorityHigh: 50, kNERtcMediaPriorityNormal: 100,
});
const NERtcAudioRecordingQuality = nertcEnum({
  kNERtcAudioRecordingQualityLow: 0, kNERtcAudioRecordingQualityMedium: 1, kNERtcAudioRecordingQualityHigh: 2,
});
const NERtcEncryptionMode = nertcEnum({
  kNERtcGMCryptoSM4ECB: 0, kNERtcEncryptionModeCustom: 1,
});
const NERtcLiveStreamMode = nertcEnum({
  kNERtcLsModeVideo: 0, kNERtcLsModeAudio: 1,
});
const NERtcLiveStreamVideoScaleMode = nertcEnum({
  kNERtcLsModeVideoScaleFit: 0, kNERtcLsModeVideoScaleCropFill: 1,
});
const NERtcLiveStreamAudioSampleRate = nertcEnum({
  kNERtcLiveStreamAudioSampleRate32000: 32000, kNERtcLiveStreamAudioSampleRate44100: 44100,
  kNERtcLiveStreamAudioSampleRate48000: 48000,
});
const NERtcLiveStreamAudioCodecProfile = nertcEnum({
  kNERtcLiveStreamAudioCodecProfileLCAAC: 0, kNERtcLiveStreamAudioCodecProfileHEAAC: 1,
});
const NERtcAudioDeviceTransportType = nertcEnum({
  kNERtcAudioDeviceTransportTypeUnknown: 0, kNERtcAudioDeviceTransportTypeBluetooth: 1,
  kNERtcAudioDeviceTransportTypeBluetoothA2DP: 2, kNERtcAudioDeviceTransportTypeBluetoothLE: 3,
  kNERtcAudioDeviceTransportTypeUSB: 4, kNERtcAudioDeviceTransportTypeHDMI: 5, kNERtcAudioDeviceTransportTypeBuiltIn: 6,
  kNERtcAudioDeviceTransportTypeThunderbolt: 7, kNERtcAudioDeviceTransportTypeAirPlay: 8,
  kNERtcAudioDeviceTransportTypeVirtual: 9, kNERtcAudioDeviceTransportTypeOther: 10,
});
const NERtcVideoDeviceTransportType = nertcEnum({
  kNERtcVideoDeviceTransportTypeUnknown: 0, kNERtcVideoDeviceTransportTypeUSB: 1, kNERtcVideoDeviceTransportTypeVirtual: 2,
  kNERtcVideoDeviceTransportTypeOther: 3,
});
const NERtcClientRole = nertcEnum({
  kNERtcClientRoleBroadcaster: 0, kNERtcClientRoleAudience: 1,
});
const NERtcStreamChannelType = nertcEnum({
  kNERtcStreamChannelTypeMainStream: 0, kNERtcStreamChannelTypeSubStream: 1,
});
const NERtcVideoStreamType = nertcEnum({
  kNERtcVideoStreamMain: 0, kNERtcVideoStreamSub: 1,
});
const NERtcNetworkQualityType = nertcEnum({
  kNERtcNetworkQualityUnknown: 0, kNERtcNetworkQualityExcellent: 1, kNERtcNetworkQualityGood: 2, kNERtcNetworkQualityPoor: 3,
  kNERtcNetworkQualityBad: 4, kNERtcNetworkQualityVeryBad: 5, kNERtcNetworkQualityDown: 6,
});
const NERtcConnectionStateType = nertcEnum({
  kNERtcConnectionStateDisconnected: 1, kNERtcConnectionStateConnecting: 2, kNERtcConnectionStateConnected: 3,
  kNERtcConnectionStateReconnecting: 4, kNERtcConnectionStateFailed: 5,
});
const NERtcReasonConnectionChangedType = nertcEnum({
  kNERtcReasonConnectionChangedLeaveChannel: 1, kNERtcReasonConnectionChangedChannelClosed: 2,
  kNERtcReasonConnectionChangedBeKicked: 3, kNERtcReasonConnectionChangedTimeOut: 4,
  kNERtcReasonConnectionChangedJoinChannel: 5, kNERtcReasonConnectionChangedJoinSucceed: 6,
  kNERtcReasonConnectionChangedReJoinSucceed: 7, kNERtcReasonConnectionChangedMediaConnectionDisconnected: 8,
  kNERtcReasonConnectionChangedSignalDisconnected: 9, kNERtcReasonConnectionChangedRequestChannelFailed: 10,
  kNERtcReasonConnectionChangedJoinChannelFailed: 11,
});
const NERtcAudioDeviceType = nertcEnum({
  kNERtcAudioDeviceUnknown: 0, kNERtcAudioDeviceRecord: 1, kNERtcAudioDevicePlayout: 2,
});
const NERtcAudioDeviceState = nertcEnum({
  kNERtcAudioDeviceActive: 0, kNERtcAudioDeviceUnactive: 1,
});
const NERtcAudioMixingState = nertcEnum({
  kNERtcAudioMixingStateFinished: 0, kNERtcAudioMixingStateFailed: 1,
});
const NERtcAudioMixingErrorCode = nertcEnum({
  kNERtcAudioMixingErrorOK: 0, kNERtcAudioMixingErrorFatal: 1, kNERtcAudioMixingErrorCanNotOpen: 2,
  kNERtcAudioMixingErrorDecode: 3, kNERtcAudioMixingErrorInterrupt: 4, kNERtcAudioMixingErrorHttpNotFound: 5,
  kNERtcAudioMixingErrorOpen: 6, kNERtcAudioMixingErrorNInfo: 7, kNERtcAudioMixingErrorNStream: 8,
  kNERtcAudioMixingErrorNCodec: 9, kNERtcAudioMixingErrorNMem: 10, kNERtcAudioMixingErrorCodecOpen: 11,
  kNERtcAudioMixingErrorInvalidInfo: 12, kNERtcAudioMixingErrorOpenTimeout: 13, kNERtcAudioMixingErrorIoTimeout: 14,
  kNERtcAudioMixingErrorIo: 15,
});
const NERtcLiveStreamStateCode = nertcEnum({
  kNERtcLsStatePushing: 505, kNERtcLsStatePushFail: 506, kNERtcLsStatePushStopped: 511, kNERtcLsStateImageError: 512,
});
const NERtcMediaStatsEventName = nertcEnum({
  RtcStats: "onRtcStats", LocalAudioStats: "onLocalAudioStats", RemoteAudioStats: "onRemoteAudioStats",
  LocalVideoStats: "onLocalVideoStats", RemoteVideoStats: "onRemoteVideoStats", NetworkQuality: "onNetworkQuality",
});
const NERtcVoiceChangerType = nertcEnum({
  kNERtcVoiceChangerOff: 0, kNERtcVoiceChangerRobot: 1, kNERtcVoiceChangerGaint: 2, kNERtcVoiceChangerHorror: 3,
  kNERtcVoiceChangerMature: 4, kNERtcVoiceChangerManToWoman: 5, kNERtcVoiceChangerWomanToMan: 6, kNERtcVoiceChangerManToLoli: 7,
  kNERtcVoiceChangerWomanToLoli: 8,
});
const NERtcVoiceBeautifierType = nertcEnum({
  kNERtcVoiceBeautifierOff: 0, kNERtcVoiceBeautifierMuffled: 1, kNERtcVoiceBeautifierMellow: 2, kNERtcVoiceBeautifierClear: 3,
  kNERtcVoiceBeautifierMagnetic: 4, kNERtcVoiceBeautifierRecordingstudio: 5, kNERtcVoiceBeautifierNature: 6,
  kNERtcVoiceBeautifierKTV: 7, kNERtcVoiceBeautifierRemote: 8, kNERtcVoiceBeautifierChurch: 9, kNERtcVoiceBeautifierBedroom: 10,
  kNERtcVoiceBeautifierLive: 11,
});
const NERtcVoiceEqualizationBand = nertcEnum({
  kNERtcVoiceEqualizationBand_31: 0, kNERtcVoiceEqualizationBand_62: 1, kNERtcVoiceEqualizationBand_125: 2,
  kNERtcVoiceEqualizationBand_250: 3, kNERtcVoiceEqualizationBand_500: 4, kNERtcVoiceEqualizationBand_1K: 5,
  kNERtcVoiceEqualizationBand_2K: 6, kNERtcVoiceEqualizationBand_4K: 7, kNERtcVoiceEqualizationBand_8K: 8,
  kNERtcVoiceEqualizationBand_16K: 9,
});
const NERtcSpatializerRoomCapacity = nertcEnum({
  kNERtcSpatializerRoomCapacitySmall: 0, kNERtcSpatializerRoomCapacityMedium: 1, kNERtcSpatializerRoomCapacityLarge: 2,
  kNERtcSpatializerRoomCapacityHuge: 3, kNERtcSpatializerRoomCapacityNone: 4,
});
const NERtcSpatializerMaterialName = nertcEnum({
  kNERtcSpatializerMaterialTransparent: 0, kNERtcSpatializerMaterialAcousticCeilingTiles: 1,
  kNERtcSpatializerMaterialBrickBare: 2, kNERtcSpatializerMaterialBrickPainted: 3,
  kNERtcSpatializerMaterialConcreteBlockCoarse: 4, kNERtcSpatializerMaterialConcreteBlockPainted: 5,
  kNERtcSpatializerMaterialCurtainHeavy: 6, kNERtcSpatializerMaterialFiberGlassInsulation: 7,
  kNERtcSpatializerMaterialGlassThin: 8, kNERtcSpatializerMaterialGlassThick: 9, kNERtcSpatializerMaterialGrass: 10,
  kNERtcSpatializerMaterialLinoleumOnConcrete: 11, kNERtcSpatializerMaterialMarble: 12, kNERtcSpatializerMaterialMetal: 13,
  kNERtcSpatializerMaterialParquetOnConcrete: 14, kNERtcSpatializerMaterialPlasterRough: 15,
  kNERtcSpatializerMaterialPlasterSmooth: 16, kNERtcSpatializerMaterialPlywoodPanel: 17,
  kNERtcSpatializerMaterialPolishedConcreteOrTile: 18, kNERtcSpatializerMaterialSheetrock: 19,
  kNERtcSpatializerMaterialWaterOrIceSurface: 20, kNERtcSpatializerMaterialWoodCeiling: 21,
  kNERtcSpatializerMaterialWoodPanel: 22, kNERtcSpatializerMaterialUniform: 23,
});
const NERtcSpatializerRenderMode = nertcEnum({
  kNERtcSpatializerRenderStereoPanning: 0, kNERtcSpatializerRenderBinauralLowQuality: 1,
  kNERtcSpatializerRenderBinauralMediumQuality: 2, kNERtcSpatializerRenderBinauralHighQuality: 3,
  kNERtcSpatializerRenderRoomEffectsOnly: 4,
});
const NERtcAudioRecordingPosition = nertcEnum({
  kNERtcAudioRecordingPositionMixedRecordingAndPlayback: 0, kNERtcAudioRecordingPositionRecording: 1,
  kNERtcAudioRecordingPositionMixedPlayback: 2,
});
const NERtcAudioRecordingCycleTime = nertcEnum({
  kNERtcAudioRecordingCycleTime0: 0, kNERtcAudioRecordingCycleTime10: 10, kNERtcAudioRecordingCycleTime60: 60,
  kNERtcAudioRecordingCycleTime360: 360, kNERtcAudioRecordingCycleTime900: 900,
});
const NERtcBackgroundSourceType = nertcEnum({
  kNERtcBackgroundColor: 1, kNERtcBackgroundImage: 2,
});
const NERtcFeatureType = nertcEnum({
  kNERTCVirtualBackground: 0,
});
const NERtcScreenCaptureStatus = nertcEnum({
  kScreenCaptureStatusStart: 1, kScreenCaptureStatusPause: 2, kScreenCaptureStatusResume: 3, kScreenCaptureStatusStop: 4,
  kScreenCaptureStatusCovered: 5, kScreenCaptureStatusAbort: 6,
});
const NERtcScreenCaptureCustomHLBorderAction = nertcEnum({
  kSetPos: 0, kSetAbove: 1, kSetBelow: 2, kHide: 3, kShow: 4,
});

/** Every NERTC enum above, by name. */
const NERTC_ENUMS = Object.freeze({
  NERtcLogLevel,
  NERtcRangeAudioMode,
  NERtcChannelProfileType,
  NERtcRemoteVideoStreamType,
  NERtcErrorCode,
  NERtcSessionLeaveReason,
  NERtcVideoProfileType,
  NERtcVideoScalingMode,
  NERtcVideoMirrorMode,
  NERtcVideoOutputOrientationMode,
  NERtcRawAudioFrameOpModeType,
  NERtcAudioProfileType,
  NERtcAudioScenarioType,
  NERtcVideoCropMode,
  NERtcVideoFramerateType,
  NERtcDegradationPreference,
  NERtcAudioStreamType,
  NERtcDistanceRolloffModel,
  NERtcScreenProfileType,
  NERtcSubStreamContentPrefer,
  NERtcMediaPriorityType,
  NERtcAudioRecordingQuality,
  NERtcEncryptionMode,
  NERtcLiveStreamMode,
  NERtcLiveStreamVideoScaleMode,
  NERtcLiveStreamAudioSampleRate,
  NERtcLiveStreamAudioCodecProfile,
  NERtcAudioDeviceTransportType,
  NERtcVideoDeviceTransportType,
  NERtcClientRole,
  NERtcStreamChannelType,
  NERtcVideoStreamType,
  NERtcNetworkQualityType,
  NERtcConnectionStateType,
  NERtcReasonConnectionChangedType,
  NERtcAudioDeviceType,
  NERtcAudioDeviceState,
  NERtcAudioMixingState,
  NERtcAudioMixingErrorCode,
  NERtcLiveStreamStateCode,
  NERtcMediaStatsEventName,
  NERtcVoiceChangerType,
  NERtcVoiceBeautifierType,
  NERtcVoiceEqualizationBand,
  NERtcSpatializerRoomCapacity,
  NERtcSpatializerMaterialName,
  NERtcSpatializerRenderMode,
  NERtcAudioRecordingPosition,
  NERtcAudioRecordingCycleTime,
  NERtcBackgroundSourceType,
  NERtcFeatureType,
  NERtcScreenCaptureStatus,
  NERtcScreenCaptureCustomHLBorderAction,
});

// Short names for the enums used most (kept from earlier versions).
const ConnectionState = Object.freeze({ DISCONNECTED: 1, CONNECTING: 2, CONNECTED: 3, RECONNECTING: 4, FAILED: 5 });
const ConnectionChangeReason = Object.freeze({
  LEAVE: 1,
  CHANNEL_CLOSED: 2,
  KICKED: 3,
  TIMEOUT: 4,
  JOIN: 5,
  JOIN_SUCCEED: 6,
  REJOIN_SUCCEED: 7,
  MEDIA_DISCONNECTED: 8,
  SIGNAL_DISCONNECTED: 9,
  REQUEST_CHANNEL_FAILED: 10,
  JOIN_FAILED: 11,
});
const UserLeftReason = Object.freeze({ NORMAL: 0, FAILOVER: 1, UPDATE: 2, KICK: 3, TIMEOUT: 4 });
const ChannelProfile = Object.freeze({ COMMUNICATION: 0, LIVE_BROADCASTING: 1 });
const ClientRole = Object.freeze({ BROADCASTER: 0, AUDIENCE: 1 });
const VideoScalingMode = Object.freeze({ FIT: 0, FULLFILL: 1, CROPFILL: 2 });
const VideoMirrorMode = Object.freeze({ AUTO: 0, ENABLED: 1, DISABLED: 2 });
const RemoteVideoStreamType = Object.freeze({ HIGH: 0, LOW: 1, NONE: 2 });
const VideoProfile = Object.freeze({ LOWEST: 0, LOW: 1, STANDARD: 2, HD720P: 3, HD1080P: 4 });
const VideoPixelFormat = Object.freeze({ I420: 'I420', RGBA: 'RGBA' });

/** Where the room server is when `server_config.channel_server` and NERTC_SERVER_URL are unset. */
const DEFAULT_SERVER_URL = 'ws://127.0.0.1:8480';
/** Frame pump rate: at most this many frames per second reach a canvas. */
const RENDER_FPS = 30;
/** After release() in a channel, Node stays alive at most this long for the last events. */
const RELEASE_LINGER_MS = 6000;
/** Native sentinel after an engine's last event (see src/engine.rs). */
const RELEASED_EVENT = '__released';
/** `setVideoConfig` fields the engine reads (all numbers); others are accepted and ignored. */
const VIDEO_CONFIG_FIELDS = ['max_profile', 'width', 'height', 'framerate', 'min_framerate', 'bitrate', 'min_bitrate', 'mirror_mode', 'crop_mode', 'orientation_mode'];

// ---------------------------------------------------------------------------------------------
// Argument types
//
// Values are checked in one place, the addon's src/convert.rs (integral numbers, ranges, uids,
// timestamps, pixel formats, frame and sample sizes: 30003 when one is not valid). This layer
// only makes sure each argument has the JS type the addon takes (a wrong type is 30003 here,
// so no native call throws), reshapes NERTC's objects into the addon's arguments, applies
// NERTC's defaults that depend on JS (Date.now()), and checks what only JS knows (canvases).

const isNumber = (v) => typeof v === 'number';
const isOptNumber = (v) => v == null || typeof v === 'number';
const isUidType = (v) => typeof v === 'number' || typeof v === 'bigint';

function isInt(v) {
  return typeof v === 'number' && Number.isInteger(v);
}

/** A uid as BigInt (1 ..= 2^64-1, the addon's rule), or null when it is not a valid uid. */
function toUid(uid) {
  if (!isUidType(uid)) return null;
  try {
    return native.checkUid(uid) ?? null;
  } catch {
    return null;
  }
}

/** How events present a uid: a number when it is a safe integer, else a BigInt. */
function uidForJs(uid) {
  return uid <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(uid) : uid;
}

/** A frame's timestamp (ms) for the addon: now when absent, a BigInt as a number; null when it
 * is neither (the addon checks the value). */
function timestampArg(ts) {
  if (ts == null) return Date.now();
  if (typeof ts === 'bigint') return Number(ts);
  return typeof ts === 'number' ? ts : null;
}

const isObject = (v) => v != null && typeof v === 'object';

/** NERtcCreateAudioMixingOption / NERtcCreateAudioEffectOption for the addon (unset fields: NERTC's defaults). */
function mixOptionArg(o) {
  const out = { path: o.path };
  for (const k of ['loop_count', 'send_volume', 'playback_volume', 'start_timestamp', 'progress_interval', 'send_type']) {
    if (o[k] != null) out[k] = o[k];
  }
  if (o.send_enabled != null) out.send_enabled = !!o.send_enabled;
  if (o.playback_enabled != null) out.playback_enabled = !!o.playback_enabled;
  return out;
}
const isOptObject = (v) => v == null || typeof v === 'object';

/** NERTC's `NERtcLiveStreamTaskInfo` for the addon (known fields; numbers stay numbers, flags
 * become booleans); null when a field has the wrong type (the call returns 30003). */
function liveTaskArg(t) {
  if (!isObject(t)) return null;
  const nums = (src, keys, out) => {
    for (const k of keys) {
      if (src[k] == null) continue;
      if (typeof src[k] !== 'number') return false;
      out[k] = src[k];
    }
    return true;
  };
  const flags = (src, keys, out) => { for (const k of keys) if (src[k] != null) out[k] = !!src[k]; };
  const out = {};
  for (const k of ['task_id', 'stream_url']) {
    if (t[k] == null) continue;
    if (typeof t[k] !== 'string') return null;
    out[k] = t[k];
  }
  flags(t, ['server_record_enabled'], out);
  if (!nums(t, ['ls_mode'], out)) return null;
  if (t.layout != null) {
    const l = t.layout;
    if (!isObject(l)) return null;
    out.layout = {};
    if (!nums(l, ['width', 'height', 'background_color', 'user_count'], out.layout)) return null;
    if (l.users != null) {
      if (!Array.isArray(l.users)) return null;
      out.layout.users = [];
      for (const u of l.users) {
        if (!isObject(u) || !isUidType(u.uid)) return null;
        const o = { uid: u.uid };
        if (!nums(u, ['adaption', 'x', 'y', 'width', 'height'], o)) return null;
        flags(u, ['video_push', 'audio_push'], o);
        out.layout.users.push(o);
      }
    }
    if (l.bg_image != null) {
      if (!isObject(l.bg_image)) return null;
      const i = {};
      if (l.bg_image.url != null) i.url = String(l.bg_image.url);
      if (!nums(l.bg_image, ['x', 'y', 'width', 'height'], i)) return null;
      out.layout.bg_image = i;
    }
  }
  if (t.config != null) {
    if (!isObject(t.config)) return null;
    out.config = {};
    if (!nums(t.config, ['audio_bitrate', 'sample_rate', 'channels', 'audio_codec_profile'], out.config)) return null;
    flags(t.config, ['single_video_passthrough'], out.config);
  }
  return out;
}

/** NERTC's `NERtcRectangle` for the addon (numbers only; the addon checks the values). */
function rectArg(r) {
  if (r == null) return null;
  const out = {};
  for (const k of ['x', 'y', 'width', 'height']) if (r[k] != null) out[k] = r[k];
  return out;
}

/** NERTC's `NERtcScreenCaptureParameters` for the addon (known fields only). */
function screenParamArg(p) {
  if (p == null) return null;
  const out = {};
  for (const k of ['profile', 'frame_rate', 'bitrate', 'prefer', 'excluded_window_count']) if (p[k] != null) out[k] = p[k];
  for (const k of ['capture_mouse_cursor', 'window_focus']) if (p[k] != null) out[k] = !!p[k];
  if (p.dimensions != null) out.dimensions = rectArg(p.dimensions);
  if (p.excluded_window_list != null) out.excluded_window_list = Array.from(p.excluded_window_list, Number);
  return out;
}

/**
 * NERTC's `(uids, size)`: the first `size` entries of an array of uids (all when `size` is
 * absent), or null when malformed. null/undefined `uids` is the empty list (NERTC: "null
 * cancels").
 */
function uidList(uids, size) {
  if (uids == null) return [];
  if (!Array.isArray(uids)) return null;
  const n = size == null ? uids.length : size;
  if (!Number.isInteger(n) || n < 0 || n > uids.length) return null;
  const list = uids.slice(0, n);
  return list.every(isUidType) ? list : null;
}

/** onRecvSEIMsg's (and onUserDataReceiveMessage's) arguments with the data as an ArrayBuffer holding exactly its bytes. */
function seiArgs([uid, data]) {
  if (!(data instanceof Uint8Array)) return [uid, data];
  const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  return [uid, whole ? data.buffer : data.slice().buffer];
}

/** An ArrayBuffer or any typed array / DataView as a Uint8Array over the same bytes; else null. */
function seiBytes(v) {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return null;
}

function isBytes(v) {
  return v instanceof Uint8Array || v instanceof Uint8ClampedArray;
}

function errorText(e) {
  if (e && typeof e === 'object' && typeof e.stack === 'string') return e.stack;
  try {
    return String(e);
  } catch {
    return '<unprintable exception>';
  }
}

function hasDom(view) {
  return (
    typeof globalThis.document !== 'undefined' &&
    typeof globalThis.HTMLElement === 'function' &&
    view instanceof globalThis.HTMLElement
  );
}

// ---------------------------------------------------------------------------------------------
// NERtcEngine

class NERtcEngine extends EventEmitter {
  constructor() {
    super();
    /** @private the native engine while initialized, else null */
    this._native = null;
    /** @private events from the native side waiting for the next setImmediate */
    this._queue = [];
    this._drainScheduled = false;
    /** @private key ('local' | 'remote:<uid>') -> canvas state */
    this._canvases = new Map();
    this._pump = null;
    this._reportingHandlerError = false;
    /** @private generation of the current native engine (events of released ones still flow) */
    this._gen = 0;
    /** @private ref'd timer while in a channel */
    this._keepAlive = null;
    /** @private generation -> linger timer after release() */
    this._lingering = new Map();
    /** @private unsupported methods this engine has called (their first call logs a warning) */
    this._unsupportedCalled = new Set();
    /** @private live NERtcChannel objects made by createChannel */
    this._channels = new Set();
  }

  // ----- lifecycle ------------------------------------------------------------------------

  /**
   * `context = { app_key, log_dir_path, log_level, log_file_max_size_KBytes, server_config:
   * { channel_server } }`. The room server's URL comes from `server_config.channel_server`,
   * else the NERTC_SERVER_URL environment variable, else ws://127.0.0.1:8480.
   */
  initialize(context) {
    if (this._native) return ErrorCode.ERR_INVALID_STATE;
    if (!context || typeof context !== 'object') return ErrorCode.ERR_INVALID_PARAM;
    const appKey = context.app_key;
    if (typeof appKey !== 'string' || appKey.length === 0) return ErrorCode.ERR_INVALID_PARAM;
    const sc = context.server_config && typeof context.server_config === 'object' ? context.server_config : {};
    let serverUrl = sc.channel_server;
    if (serverUrl != null && typeof serverUrl !== 'string') return ErrorCode.ERR_INVALID_PARAM;
    if (!serverUrl) serverUrl = process.env.NERTC_SERVER_URL || DEFAULT_SERVER_URL;

    const logDir = context.log_dir_path;
    if (logDir != null && typeof logDir !== 'string') return ErrorCode.ERR_INVALID_PARAM;
    const level = context.log_level == null ? 3 : context.log_level;
    const maxKb = context.log_file_max_size_KBytes == null ? 0 : context.log_file_max_size_KBytes;
    if (!isNumber(level) || !isNumber(maxKb)) return ErrorCode.ERR_INVALID_PARAM;

    try {
      const logCode = native.configureLogging(logDir || null, level, maxKb);
      if (logCode !== 0) return logCode;
      return this._start(appKey, serverUrl, logDir || null);
    } catch (e) {
      this._log('initialize failed', e);
      return ErrorCode.ERR_FATAL;
    }
  }

  /** Creates the native engine (logging is configured); initialize's code. */
  _start(appKey, serverUrl, logDir, parent = null) {
    try {
      const engine = new native.NativeEngine();
      const gen = this._gen + 1;
      const onEvent = (name, args) => this._onNativeEvent(name, args, gen);
      // A channel's engine shares its parent's camera, microphone and speaker.
      const code = parent
        ? engine.initializeChannel(parent, appKey, serverUrl, onEvent)
        : engine.initialize(appKey, serverUrl, onEvent);
      if (code !== 0) return code;
      this._gen = gen;
      this._native = engine;
      this._logDir = logDir;
      this._appKey = appKey;
      this._serverUrl = serverUrl;
      // Each initialized engine logs its first call of each unsupported method as a warning.
      this._unsupportedCalled = new Set();
      return 0;
    } catch (e) {
      this._log('initialize failed', e);
      return ErrorCode.ERR_FATAL;
    }
  }

  /**
   * Leaves the channel (onLeaveChannel still fires), stops every thread, closes devices and
   * unbinds every canvas. Safe to call twice and in any state; returns at once.
   */
  release() {
    // NERTC asks apps to release their channels first; any left are released here.
    for (const channel of [...this._channels]) channel.release();
    this._stopPump();
    this._canvases.clear();
    const engine = this._native;
    this._native = null;
    if (!engine) return 0;
    if (this._keepAlive) {
      // In a channel: stay alive until onLeaveChannel and the engine's last event are delivered.
      this._setKeepAlive(false);
      const gen = this._gen;
      const timer = setTimeout(() => this._lingering.delete(gen), RELEASE_LINGER_MS);
      this._lingering.set(gen, timer);
    }
    try {
      engine.release();
    } catch (e) {
      this._log('release failed', e);
    }
    return 0;
  }

  getVersion() {
    return native.version();
  }

  /**
   * A second channel (NERTC's NERtcChannel) named `channelName`, or null before initialize,
   * for a name that is not a non-empty string, or while this engine has a live channel of
   * that name. The channel is its own native engine session (same app key, server and log):
   * it joins, publishes and subscribes on its own and emits its own events; see NERtcChannel.
   */
  createChannel(channelName) {
    if (!this._native || typeof channelName !== 'string' || channelName.length === 0) return null;
    for (const c of this._channels) if (c._name === channelName) return null;
    const session = new NERtcEngine();
    if (session._start(this._appKey, this._serverUrl, this._logDir, this._native) !== 0) return null;
    const channel = new NERtcChannel(channelName, session, this);
    this._channels.add(channel);
    return channel;
  }

  /** Whether an optional feature (NERtcFeatureType: 0 virtual background) exists: none does here. */
  isFeatureSupported(_type) {
    return false;
  }

  getErrorDescription(code) {
    return native.errorDescription(isNumber(code) ? code : -1);
  }

  /**
   * `params`: a JSON string or an object. Honoured: auto_subscribe_audio, log_level,
   * video_sendonpub_type 1, server_url, auto_subscribe_video; any other key is not applied and
   * the result is 30004 (the honoured keys of the call still apply); a wrong value type: 30003.
   */
  setParameters(params) {
    let json = params;
    if (params && typeof params === 'object') {
      try {
        json = JSON.stringify(params);
      } catch {
        return ErrorCode.ERR_INVALID_PARAM;
      }
    }
    if (typeof json !== 'string') return this._native ? ErrorCode.ERR_INVALID_PARAM : ErrorCode.ERR_INVALID_STATE;
    return this._call((n) => n.setParameters(json));
  }

  getConnectionState() {
    if (!this._native) return ConnectionState.DISCONNECTED;
    try {
      return this._native.getConnectionState();
    } catch {
      return ConnectionState.DISCONNECTED;
    }
  }

  // ----- channel --------------------------------------------------------------------------

  setChannelProfile(profile) {
    return this._callIf(isNumber(profile), (n) => n.setChannelProfile(profile));
  }

  setClientRole(role) {
    return this._callIf(isNumber(role), (n) => n.setClientRole(role));
  }

  /** `uid`: a positive integer (number or BigInt). Result: onJoinChannel(cid, uid, result, elapsed). */
  joinChannel(token, channelName, uid) {
    const typesOk = (token == null || typeof token === 'string') && typeof channelName === 'string' && isUidType(uid);
    const code = this._callIf(typesOk, (n) => n.joinChannel(token || null, channelName, uid));
    if (code === 0) this._setKeepAlive(true);
    return code;
  }

  /**
   * `joinChannel` with NERTC's options object `{custom_info, permission_key}` (both strings,
   * optional). Our token already carries the permissions NERTC's permission key grants, so a
   * `permission_key` is the join token when `token` is empty (and ignored, with a log line,
   * when both are given); `custom_info` (at most 127 characters) is the `userName` the others
   * get in onUserJoined.
   */
  joinChannelWithOptions(token, channelName, uid, channelOptions) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    let joinToken = token;
    if (channelOptions != null) {
      if (typeof channelOptions !== 'object') return ErrorCode.ERR_INVALID_PARAM;
      const { custom_info: info, permission_key: key } = channelOptions;
      if ((info != null && typeof info !== 'string') || (key != null && typeof key !== 'string')) return ErrorCode.ERR_INVALID_PARAM;
      if (key && token) this._log('joinChannelWithOptions', 'both token and permission_key given; joining with the token');
      if (key && !token) joinToken = key;
      if (info) {
        const typesOk = (joinToken == null || typeof joinToken === 'string') && typeof channelName === 'string' && isUidType(uid);
        const code = this._callIf(typesOk, (n) => n.joinChannelWithOptions(joinToken || null, channelName, uid, info));
        if (code === 0) this._setKeepAlive(true);
        return code;
      }
    }
    return this.joinChannel(joinToken, channelName, uid);
  }

  /**
   * SEI data (`ArrayBuffer` or a typed array, 1-4096 bytes) in the next picture of the main
   * stream, as an H.264 SEI NAL unit; receivers get onRecvSEIMsg(uid, data). 30005 while the
   * main stream is not sent, 30901 when 5 messages already wait for pictures.
   */
  sendSEIMsg(data) {
    return this.sendSEIMsgWithType(data, 0);
  }

  /** sendSEIMsg on the main stream (`type` 0) or the substream (1, the screen share). */
  sendSEIMsgWithType(data, type) {
    const bytes = seiBytes(data);
    return this._callIf(bytes !== null && isNumber(type), (n) => n.sendSeiMsg(bytes, type));
  }

  /**
   * A new token (NERTC's permission key) for the session in the channel: the server checks it
   * and applies its permissions; a rejoin uses it. Result: onUpdatePermissionKey(key, code,
   * time). 30101 outside a channel.
   */
  updatePermissionKey(key) {
    return this._callIf(typeof key === 'string', (n) => n.updatePermissionKey(key));
  }

  leaveChannel() {
    return this._call((n) => n.leaveChannel());
  }

  // ----- local video ----------------------------------------------------------------------

  /** `canvas = {view, mode (or scaling_mode), mirror}`; `null` or `{view: null}` unbinds. */
  setupLocalVideoCanvas(canvas) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    return this._setupCanvas('local', null, canvas);
  }

  /** `canvas = {view, mode}`; `null` or `{view: null}` unbinds. */
  setupRemoteVideoCanvas(uid, canvas) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    const u = toUid(uid);
    if (u === null) return ErrorCode.ERR_INVALID_PARAM;
    return this._setupCanvas(`remote:${u}`, u, canvas);
  }

  /**
   * A PNG data URL of the last frame drawn for `uid` (or `'local'`) on the main stream
   * (`streamType` 0, the default) or the substream (1, a screen share), or '' (NERTC's empty
   * result) when nothing was drawn or the canvas's renderer cannot capture (custom `drawFrame`
   * views).
   */
  captureImageByUid(uid, streamType = 0) {
    if (!this._native || (streamType !== 0 && streamType !== 1)) return '';
    const c = this._canvasOf(uid, streamType === 1);
    if (!c || !c.renderer || typeof c.renderer.captureImage !== 'function') return '';
    try {
      const url = c.renderer.captureImage();
      return typeof url === 'string' ? url : '';
    } catch (e) {
      this._log('captureImage failed', e);
      return '';
    }
  }

  /**
   * Changes the scaling mode of the canvas bound for `uid` (or `'local'`): 0 fit, 1 fullfill,
   * 2 cropfill. 0; -1 (NERTC's value) when no canvas is bound for it; 30003 for another mode.
   */
  setRenderMode(uid, mode) {
    return this._setMode(uid, mode, false);
  }

  _setMode(uid, mode, sub) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    if (!isInt(mode) || mode < 0 || mode > 2) return ErrorCode.ERR_INVALID_PARAM;
    const c = this._canvasOf(uid, sub);
    if (!c) return -1;
    c.mode = mode;
    // Frames carry the mode; the DOM renderer also keeps its own.
    if (c.renderer && typeof c.renderer.setMode === 'function') {
      try {
        c.renderer.setMode(mode);
      } catch (e) {
        this._log('renderer setMode failed', e);
      }
    }
    return 0;
  }

  /**
   * `config = {max_profile, width, height, framerate, min_framerate, bitrate, min_bitrate,
   * mirror_mode, crop_mode, degradation_preference, orientation_mode}`; crop_mode (16:9, 4:3,
   * 1:1) and orientation_mode (fixed landscape / portrait) cut the captured picture (preview
   * and what is sent); degradation_preference and min_framerate are accepted and ignored.
   * Missing or 0 leaves a field at its default.
   */
  setVideoConfig(config) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    if (!config || typeof config !== 'object') return ErrorCode.ERR_INVALID_PARAM;
    const cfg = {};
    for (const k of VIDEO_CONFIG_FIELDS) {
      const v = config[k];
      if (!isOptNumber(v)) return ErrorCode.ERR_INVALID_PARAM;
      if (v != null) cfg[k] = v;
    }
    return this._call((n) => n.setVideoConfig(cfg));
  }

  startVideoPreview() {
    return this._call((n) => n.startVideoPreview());
  }

  stopVideoPreview() {
    return this._call((n) => n.stopVideoPreview());
  }

  enableLocalVideo(enabled) {
    return this._call((n) => n.enableLocalVideo(!!enabled));
  }

  muteLocalVideoStream(mute) {
    return this._call((n) => n.muteLocalVideoStream(!!mute));
  }

  /**
   * Media encryption end to end (NERtcEncryptionConfig {mode, key}): before joining only; mode 0
   * (SM4) only. See index.d.ts.
   */
  enableEncryption(enable, config) {
    const ok = config == null
      ? !enable
      : isObject(config) && (config.mode == null || isNumber(config.mode)) && (config.key == null || typeof config.key === 'string');
    // null fields (NERTC's custom mode takes a null key) as absent ones for the addon.
    const native = config == null ? undefined : { mode: config.mode ?? undefined, key: config.key ?? undefined };
    return this._callIf(ok, (n) => n.enableEncryption(!!enable, native));
  }

  /** Dual stream: the camera is published with a low layer too (from its next publication). */
  enableDualStreamMode(enabled) {
    return this._call((n) => n.enableDualStreamMode(!!enabled));
  }

  /** 0 disabled, 2 audio only (kept; the audio-only fallback is not built). */
  setLocalPublishFallbackOption(option) {
    return this._callIf(isNumber(option), (n) => n.setLocalPublishFallbackOption(option));
  }

  /** 0 disabled, 1 low stream on a poor downlink (default), 2 audio only (taken as 1). */
  setRemoteSubscribeFallbackOption(option) {
    return this._callIf(isNumber(option), (n) => n.setRemoteSubscribeFallbackOption(option));
  }

  /** 0 auto (mirror the local preview), 1 always, 2 never. */
  setLocalVideoMirrorMode(mode) {
    return this._callIf(isNumber(mode), (n) => n.setLocalVideoMirrorMode(mode));
  }

  // ----- NERTC's *WithType variants: the main stream (0) works, the substream (1) is not supported

  setVideoConfigWithType(streamType, config) {
    return this._mainStream('setVideoConfigWithType', streamType, () => this.setVideoConfig(config));
  }

  startVideoPreviewWithType(streamType) {
    return this._mainStream('startVideoPreviewWithType', streamType, () => this.startVideoPreview());
  }

  stopVideoPreviewWithType(streamType) {
    return this._mainStream('stopVideoPreviewWithType', streamType, () => this.stopVideoPreview());
  }

  enableLocalVideoWithType(streamType, enabled) {
    return this._mainStream('enableLocalVideoWithType', streamType, () => this.enableLocalVideo(enabled));
  }

  /** 0 the camera; 1 the screen share (it keeps capturing, sends nothing while muted). */
  muteLocalVideoStreamWithType(streamType, mute) {
    if (streamType === 1) return this._call((n) => n.muteLocalSubStreamVideo(!!mute));
    return this._mainStream('muteLocalVideoStreamWithType', streamType, () => this.muteLocalVideoStream(mute));
  }

  setLocalVideoMirrorModeWithType(streamType, mode) {
    return this._mainStream('setLocalVideoMirrorModeWithType', streamType, () => this.setLocalVideoMirrorMode(mode));
  }

  /** NERTC's argument order: the device id first. */
  setVideoDeviceWithType(id, streamType) {
    return this._mainStream('setVideoDeviceWithType', streamType, () => this.setVideoDevice(id));
  }

  /** The main stream's camera; '' for the substream. */
  getVideoDeviceWithType(streamType) {
    return streamType === 0 ? this.getVideoDevice() : '';
  }

  // ----- local audio ----------------------------------------------------------------------

  enableLocalAudio(enabled) {
    return this._call((n) => n.enableLocalAudio(!!enabled));
  }

  muteLocalAudioStream(mute) {
    return this._call((n) => n.muteLocalAudioStream(!!mute));
  }

  /** 0-400, 100 = unchanged. */
  adjustRecordingSignalVolume(volume) {
    return this._callIf(isNumber(volume), (n) => n.adjustRecordingSignalVolume(volume));
  }

  /** 0-400, 100 = unchanged. */
  adjustPlaybackSignalVolume(volume) {
    return this._callIf(isNumber(volume), (n) => n.adjustPlaybackSignalVolume(volume));
  }

  /**
   * `scenario` picks the audio processing of the microphone: 0 default and 1 speech run echo
   * cancellation, noise suppression and gain control; 2 music keeps echo cancellation only.
   * `profile` (0-6) is checked; the codec stays 48 kHz mono Opus.
   */
  setAudioProfile(profile, scenario) {
    return this._callIf(isNumber(profile) && isNumber(scenario), (n) => n.setAudioProfile(profile, scenario));
  }

  /** `interval` in ms, a multiple of 100. */
  enableAudioVolumeIndication(enable, interval) {
    return this._callIf(isOptNumber(interval), (n) => n.enableAudioVolumeIndication(!!enable, interval ?? null));
  }

  // ----- remote media ---------------------------------------------------------------------

  /** `streamType`: 0 high, 1 low, 2 none. Call after onUserVideoStart. */
  subscribeRemoteVideoStream(uid, streamType, subscribe) {
    return this._callIf(isUidType(uid) && isNumber(streamType), (n) => n.subscribeRemoteVideoStream(uid, streamType, !!subscribe));
  }

  subscribeRemoteAudioStream(uid, subscribe) {
    return this._callIf(isUidType(uid), (n) => n.subscribeRemoteAudioStream(uid, !!subscribe));
  }

  /**
   * Every remote user's audio on or off for this call, users who join later included. In a
   * channel only (30101). Unlike NERTC, subscribeRemoteAudioStream still picks single users
   * afterwards.
   */
  subscribeAllRemoteAudioStream(subscribe) {
    return this._call((n) => n.subscribeAllRemoteAudioStream(!!subscribe));
  }

  /**
   * Only these users (of those in the room now) may hear us; `[]` lets everyone again. The
   * server enforces it. In a channel only. `size`: how many of `uids` count (default: all).
   */
  setAudioSubscribeOnlyBy(uids, size) {
    const list = uidList(uids, size);
    return this._callIf(list !== null, (n) => n.setAudioSubscribeOnlyBy(list, list.length));
  }

  /** Receive only these users' audio (of those in the room now); `[]` ends the allowlist. */
  setSubscribeAudioAllowlist(uids, size) {
    const list = uidList(uids, size);
    return this._callIf(list !== null, (n) => n.setSubscribeAudioAllowlist(list, list.length));
  }

  /**
   * Do not receive these users' audio (of those in the room now); `[]` ends the blocklist.
   * `audioStreamType` 0 (main); 1 (the audio substream, which this SDK lacks): 30004.
   */
  setSubscribeAudioBlocklist(audioStreamType, uids, size) {
    const list = uidList(uids, size);
    return this._callIf(list !== null && isNumber(audioStreamType), (n) =>
      n.setSubscribeAudioBlocklist(audioStreamType, list, list.length));
  }

  /** `uid`'s audio as played here: 0 (silent) to 100 (as received). In a channel only. */
  adjustUserPlaybackSignalVolume(uid, volume) {
    return this._callIf(isUidType(uid) && isNumber(volume), (n) => n.adjustUserPlaybackSignalVolume(uid, volume));
  }

  /** The channel's remote users as played here, 0-400 (100 as received); until the call ends. */
  adjustChannelPlaybackSignalVolume(volume) {
    return this._callIf(isNumber(volume), (n) => n.adjustChannelPlaybackSignalVolume(volume));
  }

  /**
   * From the channel we are in to `channelName`, same uid: onLeaveChannel(0), then
   * onJoinChannel. NERTC allows it to the audience of a live channel only (30005 otherwise);
   * 30101 outside a channel, 30100 for the channel we are in.
   */
  switchChannel(token, channelName) {
    return this._switch('switchChannel', token, channelName, null);
  }

  /**
   * switchChannel with `{custom_info, permission_key}` as joinChannelWithOptions takes them
   * (`permission_key` is the token when `token` is empty; `custom_info` the new userName).
   */
  switchChannelWithOptions(token, channelName, channelOptions) {
    return this._switch('switchChannelWithOptions', token, channelName, channelOptions);
  }

  /** switchChannelWithOptions; the range-audio fields (team_id, mode, audible_distance) are ignored. */
  switchChannelWithOptionsEx(token, channelName, channelOptions) {
    return this._switch('switchChannelWithOptionsEx', token, channelName, channelOptions);
  }

  /** @private */
  _switch(method, token, channelName, options) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    let switchToken = token;
    let name = null;
    if (options != null) {
      if (typeof options !== 'object') return ErrorCode.ERR_INVALID_PARAM;
      const { custom_info: info, permission_key: key } = options;
      if ((info != null && typeof info !== 'string') || (key != null && typeof key !== 'string')) return ErrorCode.ERR_INVALID_PARAM;
      if (key && token) this._log(method, 'both token and permission_key given; switching with the token');
      if (key && !token) switchToken = key;
      if (info) name = info;
    }
    const typesOk = (switchToken == null || typeof switchToken === 'string') && typeof channelName === 'string';
    return this._callIf(typesOk, (n) => n.switchChannel(switchToken || null, channelName, name));
  }

  // ----- data channel ----------------------------------------------------------------------

  /**
   * Our data channel on or off; the others get onUserDataStart / onUserDataStop. In a channel
   * only (30101); an audience member has none (30005).
   */
  enableLocalData(enable) {
    return this._call((n) => n.enableLocalData(!!enable));
  }

  /** `uid`'s data messages on or off (all are on when a call starts). In a channel only. */
  subscribeRemoteData(uid, subscribe) {
    return this._callIf(isUidType(uid), (n) => n.subscribeRemoteData(uid, !!subscribe));
  }

  /**
   * `data` (ArrayBuffer or a typed array, 1-32768 bytes) to the users subscribed to ours, in
   * order; they get onUserDataReceiveMessage(uid, ArrayBuffer). 30005 before
   * enableLocalData(true), 30003 for a size out of range, 30901 beyond 100 messages a second.
   */
  sendData(data) {
    const bytes = seiBytes(data);
    return this._callIf(bytes !== null, (n) => n.sendData(bytes));
  }

  // ----- screen sharing: the substream ----------------------------------------------------

  /** `canvas = {view, mode}` for our own screen share; `null` or `{view: null}` unbinds. */
  setupLocalSubStreamVideoCanvas(canvas) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    return this._setupCanvas('local:sub', null, canvas, true);
  }

  /** `canvas = {view, mode}` for `uid`'s screen share; `null` or `{view: null}` unbinds. */
  setupRemoteSubStreamVideoCanvas(uid, canvas) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    const u = toUid(uid);
    if (u === null) return ErrorCode.ERR_INVALID_PARAM;
    return this._setupCanvas(`remote:${u}:sub`, u, canvas, true);
  }

  /** `setRenderMode` for the substream canvas of `uid` (or `'local'`). */
  setSubStreamRenderMode(uid, mode) {
    return this._setMode(uid, mode, true);
  }

  /** Receive `uid`'s screen share (off until asked; `onUserSubStreamVideoStart` announces it). */
  subscribeRemoteVideoSubStream(uid, subscribe) {
    return this._callIf(isUidType(uid), (n) => n.subscribeRemoteVideoSubStream(uid, !!subscribe));
  }

  /**
   * Displays then windows: `[{sourceId, displayId, sourceName, type (1 screen, 2 window),
   * isMinimizeWindow, thumbBGRA?: {buffer, length, width, height}, iconBGRA?}]`, thumbnails and
   * icons fitted into the given sizes (0 leaves them out). [] where screen capture is missing.
   */
  enumerateScreenCaptureSourceInfo(thumbWidth, thumbHeight, iconWidth, iconHeight) {
    if (![thumbWidth, thumbHeight, iconWidth, iconHeight].every(isNumber)) return [];
    return this._list((n) => n.enumerateScreenCaptureSourceInfo(thumbWidth, thumbHeight, iconWidth, iconHeight));
  }

  /** Shares display `displayId` (its `regionRect`, all of it when empty) on the substream. */
  startScreenCaptureByDisplayId(displayId, regionRect, param) {
    const ok = isNumber(displayId) && isOptObject(regionRect) && isOptObject(param);
    return this._callIf(ok, (n) => n.startScreenCaptureByDisplayId(displayId, rectArg(regionRect), screenParamArg(param)));
  }

  /** Shares window `windowid` (its `regionRect`, all of it when empty) on the substream. */
  startScreenCaptureByWindowId(windowid, regionRect, param) {
    const ok = isNumber(windowid) && isOptObject(regionRect) && isOptObject(param);
    return this._callIf(ok, (n) => n.startScreenCaptureByWindowId(windowid, rectArg(regionRect), screenParamArg(param)));
  }

  /** Shares `screenRect` of the whole screen (its `regionRect`, all of it when empty). */
  startScreenCaptureByScreenRect(screenRect, regionRect, param) {
    const ok = isObject(screenRect) && isOptObject(regionRect) && isOptObject(param);
    return this._callIf(ok, (n) => n.startScreenCaptureByScreenRect(rectArg(screenRect), rectArg(regionRect), screenParamArg(param)));
  }

  updateScreenCaptureRegion(regionRect) {
    return this._callIf(isObject(regionRect), (n) => n.updateScreenCaptureRegion(rectArg(regionRect)));
  }

  setScreenCaptureMouseCursor(captureCursor) {
    return this._call((n) => n.setScreenCaptureMouseCursor(!!captureCursor));
  }

  pauseScreenCapture() {
    return this._call((n) => n.pauseScreenCapture());
  }

  resumeScreenCapture() {
    return this._call((n) => n.resumeScreenCapture());
  }

  stopScreenCapture() {
    return this._call((n) => n.stopScreenCapture());
  }

  /** `param = {window_list: [windowId...]}`: painted black where they cover a shared display. */
  setExcludeWindowList(param) {
    const list = isObject(param) ? param.window_list : null;
    return this._callIf(Array.isArray(list) && list.every(isNumber), (n) => n.setExcludeWindowList(list));
  }

  /** NERTC passes the excluded windows here too (`{window_list}`). */
  updateScreenCaptureParameters(param) {
    return this.setExcludeWindowList(param);
  }

  // ----- devices --------------------------------------------------------------------------

  enumerateRecordDevices() {
    return this._list((n) => n.enumerateRecordDevices());
  }

  enumeratePlayoutDevices() {
    return this._list((n) => n.enumeratePlayoutDevices());
  }

  enumerateVideoCaptureDevices() {
    return this._list((n) => n.enumerateVideoCaptureDevices());
  }

  setRecordDevice(id) {
    return this._callDevice(id, (n) => n.setRecordDevice(id));
  }

  getRecordDevice() {
    return this._string((n) => n.getRecordDevice());
  }

  // Device volume and mute: a gain on the device's PCM (0-255, 255 = unity), kept across
  // device changes. The getters return -30005 / false without an engine.

  setRecordDeviceVolume(volume) {
    return this._callIf(isNumber(volume), (n) => n.setRecordDeviceVolume(volume));
  }

  getRecordDeviceVolume() {
    return this._number((n) => n.getRecordDeviceVolume());
  }

  setPlayoutDeviceVolume(volume) {
    return this._callIf(isNumber(volume), (n) => n.setPlayoutDeviceVolume(volume));
  }

  getPlayoutDeviceVolume() {
    return this._number((n) => n.getPlayoutDeviceVolume());
  }

  setRecordDeviceMute(mute) {
    return this._call((n) => n.setRecordDeviceMute(!!mute));
  }

  getRecordDeviceMute() {
    return this._bool((n) => n.getRecordDeviceMute());
  }

  setPlayoutDeviceMute(mute) {
    return this._call((n) => n.setPlayoutDeviceMute(!!mute));
  }

  getPlayoutDeviceMute() {
    return this._bool((n) => n.getPlayoutDeviceMute());
  }

  /** Runs the microphone and reports its level (onLocalAudioVolumeIndication) every `interval` ms (100-10000). */
  startRecordDeviceTest(interval) {
    return this._callIf(isNumber(interval), (n) => n.startRecordDeviceTest(interval));
  }

  stopRecordDeviceTest() {
    return this._call((n) => n.stopRecordDeviceTest());
  }

  /** The speaker plays a WAV file in a loop (30003 if there is no such file). */
  startPlayoutDeviceTest(path) {
    return this._callIf(typeof path === 'string', (n) => n.startPlayoutDeviceTest(path));
  }

  stopPlayoutDeviceTest() {
    return this._call((n) => n.stopPlayoutDeviceTest());
  }

  /** The microphone plays on the speaker; its level is reported every `interval` ms (100-10000). */
  startAudioDeviceLoopbackTest(interval) {
    return this._callIf(isNumber(interval), (n) => n.startAudioDeviceLoopbackTest(interval));
  }

  stopAudioDeviceLoopbackTest() {
    return this._call((n) => n.stopAudioDeviceLoopbackTest());
  }

  setPlayoutDevice(id) {
    return this._callDevice(id, (n) => n.setPlayoutDevice(id));
  }

  getPlayoutDevice() {
    return this._string((n) => n.getPlayoutDevice());
  }

  setVideoDevice(id) {
    return this._callDevice(id, (n) => n.setVideoDevice(id));
  }

  getVideoDevice() {
    return this._string((n) => n.getVideoDevice());
  }

  // ----- external sources -----------------------------------------------------------------

  setExternalVideoSource(enabled) {
    return this._call((n) => n.setExternalVideoSource(!!enabled));
  }

  /**
   * `frame = {format: 'I420' | 'RGBA', width, height, data: Uint8Array, timestamp?}` with
   * tightly packed planes (I420: w*h + 2*ceil(w/2)*ceil(h/2) bytes; RGBA: w*h*4 bytes).
   */
  pushExternalVideoFrame(frame) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    if (!frame || typeof frame !== 'object') return ErrorCode.ERR_INVALID_PARAM;
    const format = frame.format == null ? 'I420' : frame.format;
    const { width, height, data } = frame;
    const ts = timestampArg(frame.timestamp);
    const typesOk = (typeof format === 'string' || isNumber(format)) && isNumber(width) && isNumber(height) && isBytes(data) && ts !== null;
    if (!typesOk) return ErrorCode.ERR_INVALID_PARAM;
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return this._call((n) => n.pushExternalVideoFrame(format, width, height, bytes, ts));
  }

  /** `sampleRate` 8000/16000/32000/44100/48000, `channels` 1 or 2. */
  setExternalAudioSource(enabled, sampleRate, channels) {
    const typesOk = isOptNumber(sampleRate) && isOptNumber(channels);
    return this._callIf(typesOk, (n) => n.setExternalAudioSource(!!enabled, sampleRate ?? null, channels ?? null));
  }

  /**
   * `frame = {data: Int16Array (interleaved), sample_rate, channels, samples_per_channel?,
   * timestamp?}`; sample_rate and channels must match setExternalAudioSource.
   */
  pushExternalAudioFrame(frame) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    if (!frame || typeof frame !== 'object' || !(frame.data instanceof Int16Array)) return ErrorCode.ERR_INVALID_PARAM;
    const { sample_rate: rate, channels, samples_per_channel: perChannel } = frame;
    const ts = timestampArg(frame.timestamp);
    if (!isNumber(rate) || !isNumber(channels) || !isOptNumber(perChannel) || ts === null) return ErrorCode.ERR_INVALID_PARAM;
    return this._call((e) => e.pushExternalAudioFrame(frame.data, rate, channels, ts, perChannel ?? null));
  }

  // ----- audio mixing, sound effects, voice effects, earback ---------------------------------
  //
  // Files (WAV, MP3, AAC/M4A, FLAC, Ogg Vorbis, Ogg Opus) are decoded on a thread of their own;
  // a file that cannot be played fires onAudioMixingStateChanged(1, NERtcAudioMixingErrorCode).
  // Volumes 0-100; pitch in semitones -12..12. Getters return the value, or a NERTC code
  // negated (-30005: no such mixing/effect playing, or no engine).

  /** `opt = {path, loop_count = 1 (<= 0: forever), send_enabled, send_volume, playback_enabled, playback_volume, start_timestamp, progress_interval}`. */
  startAudioMixing(opt) {
    return this._callIf(isObject(opt) && typeof opt.path === 'string', (n) => n.startAudioMixing(mixOptionArg(opt)));
  }

  stopAudioMixing() {
    return this._call((n) => n.stopAudioMixing());
  }

  pauseAudioMixing() {
    return this._call((n) => n.pauseAudioMixing(true));
  }

  resumeAudioMixing() {
    return this._call((n) => n.pauseAudioMixing(false));
  }

  setAudioMixingSendVolume(volume) {
    return this._callIf(isNumber(volume), (n) => n.setAudioMixingSendVolume(volume));
  }

  getAudioMixingSendVolume() {
    return this._get((n) => n.getAudioMixingSendVolume());
  }

  setAudioMixingPlaybackVolume(volume) {
    return this._callIf(isNumber(volume), (n) => n.setAudioMixingPlaybackVolume(volume));
  }

  getAudioMixingPlaybackVolume() {
    return this._get((n) => n.getAudioMixingPlaybackVolume());
  }

  /** ms */
  getAudioMixingDuration() {
    return this._get((n) => n.getAudioMixingDuration());
  }

  /** ms */
  getAudioMixingCurrentPosition() {
    return this._get((n) => n.getAudioMixingCurrentPosition());
  }

  /** ms */
  setAudioMixingPosition(pos) {
    return this._callIf(isNumber(pos), (n) => n.setAudioMixingPosition(pos));
  }

  /** semitones, -12..12 */
  setAudioMixingPitch(pitch) {
    return this._callIf(isNumber(pitch), (n) => n.setAudioMixingPitch(pitch));
  }

  getAudioMixingPitch() {
    return this._get((n) => n.getAudioMixingPitch());
  }

  /** `opt`: an NERtcCreateAudioEffectOption, or NERTC's array of one. Several effects play at once. */
  playEffect(effectId, opt) {
    const o = Array.isArray(opt) ? opt[0] : opt;
    return this._callIf(isNumber(effectId) && isObject(o) && typeof o.path === 'string', (n) => n.playEffect(effectId, mixOptionArg(o)));
  }

  stopEffect(effectId) {
    return this._callIf(isNumber(effectId), (n) => n.stopEffect(effectId));
  }

  stopAllEffects() {
    return this._call((n) => n.stopAllEffects());
  }

  pauseEffect(effectId) {
    return this._callIf(isNumber(effectId), (n) => n.pauseEffect(effectId, true));
  }

  resumeEffect(effectId) {
    return this._callIf(isNumber(effectId), (n) => n.pauseEffect(effectId, false));
  }

  pauseAllEffects() {
    return this._call((n) => n.pauseAllEffects(true));
  }

  resumeAllEffects() {
    return this._call((n) => n.pauseAllEffects(false));
  }

  setEffectSendVolume(effectId, volume) {
    return this._callIf(isNumber(effectId) && isNumber(volume), (n) => n.setEffectSendVolume(effectId, volume));
  }

  getEffectSendVolume(effectId) {
    return isNumber(effectId) ? this._get((n) => n.getEffectSendVolume(effectId)) : -ErrorCode.ERR_INVALID_PARAM;
  }

  setEffectPlaybackVolume(effectId, volume) {
    return this._callIf(isNumber(effectId) && isNumber(volume), (n) => n.setEffectPlaybackVolume(effectId, volume));
  }

  getEffectPlaybackVolume(effectId) {
    return isNumber(effectId) ? this._get((n) => n.getEffectPlaybackVolume(effectId)) : -ErrorCode.ERR_INVALID_PARAM;
  }

  getEffectDuration(effectId) {
    return isNumber(effectId) ? this._get((n) => n.getEffectDuration(effectId)) : -ErrorCode.ERR_INVALID_PARAM;
  }

  getEffectCurrentPosition(effectId) {
    return isNumber(effectId) ? this._get((n) => n.getEffectCurrentPosition(effectId)) : -ErrorCode.ERR_INVALID_PARAM;
  }

  setEffectPosition(effectId, pos) {
    return this._callIf(isNumber(effectId) && isNumber(pos), (n) => n.setEffectPosition(effectId, pos));
  }

  setEffectPitch(effectId, pitch) {
    return this._callIf(isNumber(effectId) && isNumber(pitch), (n) => n.setEffectPitch(effectId, pitch));
  }

  getEffectPitch(effectId) {
    return isNumber(effectId) ? this._get((n) => n.getEffectPitch(effectId)) : -ErrorCode.ERR_INVALID_PARAM;
  }

  /** A frequency ratio for the microphone, 0.5-2.0 (1: off). */
  setLocalVoicePitch(pitch) {
    return this._callIf(isNumber(pitch), (n) => n.setLocalVoicePitch(pitch));
  }

  /** `bandFrequency` 0-9 (31 Hz .. 16 kHz), `bandGain` -15..15 dB. */
  setLocalVoiceEqualization(bandFrequency, bandGain) {
    return this._callIf(isNumber(bandFrequency) && isNumber(bandGain), (n) => n.setLocalVoiceEqualization(bandFrequency, bandGain));
  }

  /** `param = {wetGain, dryGain, damping, roomSize (0-1), decayTime (0.1-20 s), preDelay (0-1 s)}`. */
  setLocalVoiceReverbParam(param) {
    return this._callIf(isObject(param), (n) => n.setLocalVoiceReverbParam(param));
  }

  /** NERtcVoiceChangerType 0-8. */
  setAudioEffectPreset(type) {
    return this._callIf(isNumber(type), (n) => n.setAudioEffectPreset(type));
  }

  /** NERtcVoiceBeautifierType 0-11. */
  setVoiceBeautifierPreset(type) {
    return this._callIf(isNumber(type), (n) => n.setVoiceBeautifierPreset(type));
  }

  /** The microphone (after voice effects) in the local speaker; `volume` 0-100. */
  enableEarback(enabled, volume) {
    return this._callIf(isOptNumber(volume), (n) => n.enableEarback(!!enabled, volume ?? 100));
  }

  setEarbackVolume(volume) {
    return this._callIf(isNumber(volume), (n) => n.setEarbackVolume(volume));
  }

  // ----- live streaming (the engine composes and pushes RTMP) ---------------------------------

  /** Composes `info.layout` (our preview, the remote users' video this engine receives) and
   * pushes H.264 + AAC over RTMP to `info.stream_url`; in a channel only (30005); a malformed
   * task 30003. onAddLiveStreamTask, then onLiveStreamState(505 pushing / 506 failed / 511 stopped). */
  addLiveStreamTask(info) {
    const arg = liveTaskArg(info);
    return this._callIf(arg !== null, (n) => n.addLiveStreamTask(arg));
  }

  /** A new layout for a running task (its URL, mode and audio settings stay); onUpdateLiveStreamTask. */
  updateLiveStreamTask(info) {
    const arg = liveTaskArg(info);
    return this._callIf(arg !== null, (n) => n.updateLiveStreamTask(arg));
  }

  /** Stops the task: onRemoveLiveStreamTask, then onLiveStreamState(511). */
  removeLiveStreamTask(taskId) {
    return this._callIf(typeof taskId === 'string', (n) => n.removeLiveStreamTask(taskId));
  }

  // ----- recording and dumps ----------------------------------------------------------------

  /** WAV only (`.wav`; `.aac` returns 30004 and fires onAudioRecording(1)); both sides mixed. */
  startAudioRecording(filePath, sampleRate, quality) {
    const ok = typeof filePath === 'string' && isNumber(sampleRate) && isOptNumber(quality);
    return this._callIf(ok, (n) => n.startAudioRecording(filePath, sampleRate, quality ?? 1));
  }

  /** `config = {filePath, sampleRate, quality, position (0 mixed, 1 sent, 2 played), cycleTime}`. */
  startAudioRecordingWithConfig(config) {
    return this._callIf(isObject(config), (n) => n.startAudioRecordingWithConfig(config));
  }

  stopAudioRecording() {
    return this._call((n) => n.stopAudioRecording());
  }

  /** What is sent and played, mixed, as a 48 kHz WAV in the log directory (else the temp directory). */
  startAudioDump() {
    return this._call((n) => n.startAudioDump(this._logDir || require('os').tmpdir()));
  }

  /** NERtcAudioDumpType: 0 PCM (`.dump`: raw s16le 48 kHz mono), 1 both, 2 WAV. */
  startAudioDumpWithType(type) {
    return this._callIf(isNumber(type), (n) => n.startAudioDumpWithType(this._logDir || require('os').tmpdir(), type));
  }

  stopAudioDump() {
    return this._call((n) => n.stopAudioDump());
  }

  /** Runs getter `fn(native)`: its number, or -30005 before initialize / after release. */
  _get(fn) {
    const engine = this._native;
    if (!engine) return -ErrorCode.ERR_INVALID_STATE;
    try {
      const v = fn(engine);
      return typeof v === 'number' ? v : -ErrorCode.ERR_FATAL;
    } catch (e) {
      this._log('native call rejected its arguments', e);
      return -ErrorCode.ERR_INVALID_PARAM;
    }
  }

  // ----- internals: calls -----------------------------------------------------------------

  /** Runs `fn(native)`; 30005 before initialize / after release, 30003 when the addon rejects an argument. */
  _call(fn) {
    const engine = this._native;
    if (!engine) return ErrorCode.ERR_INVALID_STATE;
    try {
      const code = fn(engine);
      return typeof code === 'number' ? code : ErrorCode.ERR_FATAL;
    } catch (e) {
      this._log('native call rejected its arguments', e);
      return ErrorCode.ERR_INVALID_PARAM;
    }
  }

  /** `_call(fn)` when the arguments have the types the addon takes (`typesOk`), else 30003 (30005 first). */
  _callIf(typesOk, fn) {
    if (!this._native) return ErrorCode.ERR_INVALID_STATE;
    if (!typesOk) return ErrorCode.ERR_INVALID_PARAM;
    return this._call(fn);
  }

  /** `fn()` for the main video stream (0); 30004 (logged) for the substream (1), 30003 otherwise. */
  _mainStream(method, streamType, fn) {
    if (streamType === 1) return notSupported(this, method, ErrorCode.ERR_NOT_SUPPORTED);
    if (streamType !== 0) return this._native ? ErrorCode.ERR_INVALID_PARAM : ErrorCode.ERR_INVALID_STATE;
    return fn();
  }

  /** The canvas bound for `uid` (a uid, or `'local'`; `sub`: its substream), or undefined. */
  _canvasOf(uid, sub = false) {
    const tail = sub ? ':sub' : '';
    if (uid === 'local') return this._canvases.get(`local${tail}`);
    const u = toUid(uid);
    return u === null ? undefined : this._canvases.get(`remote:${u}${tail}`);
  }

  _callDevice(id, fn) {
    return this._callIf(typeof id === 'string', fn);
  }

  _list(fn) {
    if (!this._native) return [];
    try {
      const list = fn(this._native);
      return Array.isArray(list) ? list : [];
    } catch (e) {
      this._log('device enumeration failed', e);
      return [];
    }
  }

  _number(fn) {
    if (!this._native) return -ErrorCode.ERR_INVALID_STATE;
    try {
      const v = fn(this._native);
      return typeof v === 'number' ? v : -ErrorCode.ERR_INVALID_STATE;
    } catch {
      return -ErrorCode.ERR_INVALID_STATE;
    }
  }

  _bool(fn) {
    if (!this._native) return false;
    try {
      return fn(this._native) === true;
    } catch {
      return false;
    }
  }

  _string(fn) {
    if (!this._native) return '';
    try {
      const s = fn(this._native);
      return typeof s === 'string' ? s : '';
    } catch {
      return '';
    }
  }

  _log(what, e) {
    try {
      console.warn(`[nertc] ${what}: ${errorText(e)}`);
    } catch {
      // console itself failed; nothing left to report to
    }
  }

  // ----- internals: events ----------------------------------------------------------------

  /** Called by the native thread-safe function on the JS thread. Must never throw. */
  _onNativeEvent(name, args, gen = this._gen) {
    try {
      this._queue.push([name, Array.isArray(args) ? args : [], gen]);
      if (!this._drainScheduled) {
        this._drainScheduled = true;
        setImmediate(() => this._drain());
      }
    } catch {
      // never let an exception reach the native callback (it would be fatal)
    }
  }

  /** Emits a JS-originated event on a later tick, like native ones. */
  _emitLater(name, ...args) {
    this._onNativeEvent(name, args);
  }

  _drain() {
    this._drainScheduled = false;
    const batch = this._queue;
    this._queue = [];
    for (const [name, args, gen] of batch) {
      if (name === RELEASED_EVENT) {
        this._releaseDone(gen);
        continue;
      }
      if (gen === this._gen && this._native) this._trackChannel(name, args);
      // NERTC passes SEI data as an ArrayBuffer (the binding gives a Uint8Array of its own).
      this._dispatch(name, name === 'onRecvSEIMsg' || name === 'onUserDataReceiveMessage' ? seiArgs(args) : args);
    }
  }

  /** Keeps Node alive while in a channel (see the file header). */
  _trackChannel(name, args) {
    if (
      name === 'onLeaveChannel' ||
      (name === 'onJoinChannel' && args[2] !== 0) ||
      (name === 'onConnectionStateChange' && (args[0] === ConnectionState.DISCONNECTED || args[0] === ConnectionState.FAILED))
    ) {
      this._setKeepAlive(false);
    }
  }

  _setKeepAlive(on) {
    if (on && !this._keepAlive) {
      this._keepAlive = setInterval(() => {}, 1 << 30);
    } else if (!on && this._keepAlive) {
      clearInterval(this._keepAlive);
      this._keepAlive = null;
    }
  }

  _releaseDone(gen) {
    const timer = this._lingering.get(gen);
    if (timer) clearTimeout(timer);
    this._lingering.delete(gen);
  }

  /** Calls every listener of `name` with `args`; a throwing listener never stops the others. */
  _dispatch(name, args) {
    let listeners;
    try {
      listeners = this.rawListeners(name);
    } catch {
      return;
    }
    for (const listener of listeners) {
      try {
        const ret = listener.apply(this, args);
        // An async handler's rejection is a throw too (unhandled, it would end the process).
        if (ret && typeof ret.then === 'function') ret.then(undefined, (e) => this._handlerThrew(name, e));
      } catch (e) {
        this._handlerThrew(name, e);
      }
    }
  }

  _handlerThrew(name, e) {
    const msg = `event handler for ${name} threw: ${errorText(e)}`;
    this._log('event handler threw', msg);
    // An onWarning handler that throws while we report is only logged (no recursion).
    if (name === 'onWarning' || this._reportingHandlerError) return;
    this._reportingHandlerError = true;
    try {
      this._dispatch('onWarning', [ErrorCode.WARN_HANDLER_THREW, msg]);
    } finally {
      this._reportingHandlerError = false;
    }
  }

  // ----- internals: canvases and the frame pump -------------------------------------------

  _setupCanvas(key, uid, canvas, sub = false) {
    const view = canvas && typeof canvas === 'object' ? canvas.view : null;
    if (canvas != null && typeof canvas !== 'object') return ErrorCode.ERR_INVALID_PARAM;
    const old = this._canvases.get(key);
    if (old) this._destroyRenderer(old);
    this._canvases.delete(key);
    if (view == null) {
      if (this._canvases.size === 0) this._stopPump();
      return 0;
    }
    // NERTC's field is `mode`; apps written after NERTC's samples spell it `scaling_mode`.
    const mode = canvas.mode ?? canvas.scaling_mode ?? 0;
    if (!isInt(mode) || mode < 0 || mode > 2) return ErrorCode.ERR_INVALID_PARAM;
    let renderer = null;
    try {
      // Extra canvas fields (e.g. preferWebGL, colorSpace) pass through to the renderer.
      const { view: _view, scaling_mode: _scaling, ...rest } = canvas;
      renderer = this._createRenderer(view, { ...rest, mode, mirror: !!canvas.mirror, uid: uid === null ? null : uidForJs(uid) });
    } catch (e) {
      this._log('cannot create a renderer', e);
      renderer = null;
    }
    if (!renderer) {
      this._emitLater(
        'onWarning',
        ErrorCode.ERR_INVALID_RENDER,
        'video canvas view has no drawFrame(frame) method and no DOM renderer is available; the view is ignored',
      );
      if (this._canvases.size === 0) this._stopPump();
      return 0;
    }
    this._canvases.set(key, {
      uid,
      sub,
      jsUid: uid === null ? 0 : uidForJs(uid),
      view,
      mode,
      mirror: !!canvas.mirror,
      renderer,
      // JS-owned planes, filled by the native pullFrame; replaced only when the size changes.
      target: { seq: -1, y: null, u: null, v: null },
      failed: false,
    });
    this._startPump();
    return 0;
  }

  /**
   * The renderer for a canvas view: an object with `drawFrame(frame)` (and optionally
   * `destroy()`). A view that has `drawFrame` is its own renderer. DOM elements get one from
   * `NERtcEngine.createDomRenderer(view, options)` when a DOM renderer is installed (the
   * WebGL/2D canvas renderer); otherwise the view is ignored with an onWarning.
   */
  _createRenderer(view, options) {
    if (view && typeof view.drawFrame === 'function') return view;
    if (hasDom(view) && typeof NERtcEngine.createDomRenderer === 'function') {
      return NERtcEngine.createDomRenderer(view, options);
    }
    return null;
  }

  _destroyRenderer(canvas) {
    const r = canvas.renderer;
    if (r && r !== canvas.view && typeof r.destroy === 'function') {
      try {
        r.destroy();
      } catch (e) {
        this._log('renderer destroy failed', e);
      }
    }
  }

  _startPump() {
    if (this._pump || !this._native) return;
    this._pump = setInterval(() => this._pumpFrames(), Math.round(1000 / RENDER_FPS));
    if (typeof this._pump.unref === 'function') this._pump.unref();
  }

  _stopPump() {
    if (this._pump) clearInterval(this._pump);
    this._pump = null;
    for (const c of this._canvases.values()) this._destroyRenderer(c);
  }

  _pumpFrames() {
    const engine = this._native;
    if (!engine) {
      this._stopPump();
      return;
    }
    for (const c of this._canvases.values()) {
      let header;
      try {
        header = engine.pullFrame(c.uid, c.target, c.sub);
      } catch (e) {
        if (!c.failed) this._log('pullFrame failed', e);
        c.failed = true;
        continue;
      }
      if (!header) continue;
      const { width, height } = header;
      const cw = (width + 1) >> 1;
      const frame = {
        width,
        height,
        y: c.target.y,
        u: c.target.u,
        v: c.target.v,
        strides: { y: width, u: cw, v: cw },
        timestamp: header.timestamp,
        mirrored: !!header.mirrored || (c.uid === null && !c.sub && c.mirror),
        uid: c.jsUid,
        mode: c.mode,
      };
      const drawFailed = (e) => {
        // Reported once per binding; a renderer that throws on every frame must not flood.
        if (!c.failed) {
          c.failed = true;
          this._handlerThrew('drawFrame', e);
        }
      };
      try {
        const ret = c.renderer.drawFrame(frame);
        if (ret && typeof ret.then === 'function') ret.then(undefined, drawFailed);
      } catch (e) {
        drawFailed(e);
      }
    }
  }
}

/**
 * Hook for the DOM renderer (WebGL / 2D canvas): `(view: HTMLElement, options) => {drawFrame,
 * destroy?}`. Unset in Node; the Electron renderer build installs it.
 */
// DOM views (Electron renderer, any Chromium page) are drawn by renderer.js (WebGL, 2D
// fallback). It loads without a DOM, so requiring it in plain Node is harmless.
NERtcEngine.createDomRenderer = require('./renderer.js').createRenderer;

// ---------------------------------------------------------------------------------------------
// NERTC methods this SDK does not have
//
// Every public NERtcEngine method of NERTC 5.x exists here (the list, with each one's status and
// source, is nertc-api/nertc-5x.json). Those not implemented yet never throw: each logs (the SDK
// log: a warning for an engine's first call of it, debug lines after; the console: one line per
// method per process) and returns NERTC's "not supported" code 30004 — or, for the few that
// return no code, NERTC's empty result of their type. Implementing one: write it in the class
// above (a method defined there is never replaced by a stub) and set its status to "real" in
// the JSON.

/** Methods that return a code: 30004. */
const UNSUPPORTED_RETURNING_CODE = Object.freeze([
  'enableLocalSubStreamAudio', 'muteLocalSubStreamAudio', 'subscribeRemoteSubStreamAudio',
  'setStreamAlignmentProperty', 'setCameraCaptureConfig', 'setCameraCaptureConfigWithType',
  'enableAudioVolumeIndicationEx',
  'uploadSdkInfo',
  'enableLoopbackRecording', 'adjustLoopbackRecordingSignalVolume',
  'setLocalMediaPriority',
  'startChannelMediaRelay',
  'updateChannelMediaRelay', 'stopChannelMediaRelay',
  'enableSuperResolution', 'startLastmileProbeTest', 'stopLastmileProbeTest',
  'setRemoteHighPriorityAudioStream', 'enableVirtualBackground', 'setCloudProxy',
  'startBeauty', 'stopBeauty', 'enableBeauty', 'getBeautyEffect', 'setBeautyEffect', 'addBeautyFilter',
  'removeBeautyFilter', 'setBeautyFilterLevel', 'addBeautySticker', 'removeBeautySticker', 'addBeautyMakeup',
  'removeBeautyMakeup', 'enableMediaPub', 'setRangeAudioMode',
  'setRangeAudioTeamID', 'setAudioRecvRange', 'updateSelfPosition', 'enableSpatializerRoomEffects',
  'setSpatializerRoomProperty', 'setSpatializerRenderMode', 'initSpatializer', 'enableSpatializer',
  'setLocalVideoWatermarkConfigs',
]);

/** Methods that return something else: NERTC's empty or negative result of that type. */
const UNSUPPORTED_RETURNING = Object.freeze({
  /** The server clock offset (ms): 0, NERTC's value when none is known. */
  getNtpTimeOffset: () => 0,
  getParameters: () => '',
  /** 0: NERTC's "the virtual sound card driver is not installed". */
  checkNECastAudioDriver: () => 0,
});

/** Methods already warned about on the console (once per method per process). */
const warnedUnsupported = new Set();

/**
 * Logs a call of `engine` to a method this SDK lacks and returns `result`. Never throws. The SDK
 * log gets a warn line for the engine's first call of each such method (debug lines after);
 * the console a line once per method per process.
 */
function notSupported(engine, method, result) {
  try {
    if (!engine._unsupportedCalled) engine._unsupportedCalled = new Set();
    const first = !engine._unsupportedCalled.has(method);
    engine._unsupportedCalled.add(method);
    native.notSupported(method, first);
  } catch {
    // logging must not turn into an exception
  }
  if (!warnedUnsupported.has(method)) {
    warnedUnsupported.add(method);
    try {
      console.warn(`[nertc] ${method}: not supported by this SDK; returns ${JSON.stringify(result)}`);
    } catch {
      // console itself failed
    }
  }
  return result;
}

/** Marks the stubs, so tests (and curious apps) can tell them from implemented methods. */
const UNSUPPORTED = Symbol.for('nertc.unsupported');

function installStub(name, result) {
  if (Object.prototype.hasOwnProperty.call(NERtcEngine.prototype, name)) return;
  const stub = {
    [name]() {
      return notSupported(this, name, result());
    },
  }[name];
  stub[UNSUPPORTED] = true;
  Object.defineProperty(NERtcEngine.prototype, name, { value: stub, writable: true, configurable: true });
}

for (const name of UNSUPPORTED_RETURNING_CODE) installStub(name, () => ErrorCode.ERR_NOT_SUPPORTED);
for (const [name, result] of Object.entries(UNSUPPORTED_RETURNING)) installStub(name, result);

// ---------------------------------------------------------------------------------------------
// NERtcChannel: a second channel (NERtcEngine.createChannel)
//
// NERTC's NERtcChannel (nertc_sdk_ts/api/channel.ts): the channel's name is fixed at creation,
// its methods are NERtcEngine's without the name, and it emits the channel's events. Here a
// channel is a second NERtcEngine session of its own (a native `Engine` with its own server
// connection, capture and decoders, on the parent's app key, server and log) that the channel
// object drives: every method below forwards to that session with the name filled in, and the
// session's events for the channel (CHANNEL_EVENT_NAMES) are emitted on the channel object;
// the parent engine sees none of them. Capture devices are opened by each session that uses
// them (a channel that publishes its camera opens the camera itself). A channel is released by
// release() or with its engine; its methods then return 30005 like a released engine's.

/** NERtcChannel methods that forward unchanged to the channel's session (NERtcEngine's own). */
const CHANNEL_FORWARDED = Object.freeze([
  'leaveChannel', 'enableLocalAudio', 'muteLocalAudioStream', 'enableLocalVideo', 'enableLocalVideoWithType',
  'muteLocalVideoStream', 'muteLocalVideoStreamWithType', 'enableAudioVolumeIndication',
  'startScreenCaptureByScreenRect', 'startScreenCaptureByDisplayId', 'startScreenCaptureByWindowId',
  'updateScreenCaptureRegion', 'setScreenCaptureMouseCursor', 'stopScreenCapture', 'pauseScreenCapture',
  'resumeScreenCapture', 'setExcludeWindowList', 'updateScreenCaptureParameters', 'setupLocalVideoCanvas',
  'setupLocalSubStreamVideoCanvas', 'setRenderMode', 'setSubStreamRenderMode', 'setLocalVideoMirrorMode',
  'setLocalVideoMirrorModeWithType', 'setupRemoteVideoCanvas', 'setupRemoteSubStreamVideoCanvas', 'setClientRole',
  'getConnectionState', 'setVideoConfig', 'setVideoConfigWithType', 'subscribeRemoteAudioStream',
  'subscribeAllRemoteAudioStream', 'setAudioSubscribeOnlyBy', 'subscribeRemoteVideoStream',
  'subscribeRemoteVideoSubStream', 'sendSEIMsg', 'sendSEIMsgWithType', 'captureImageByUid',
  'adjustUserPlaybackSignalVolume', 'adjustChannelPlaybackSignalVolume', 'updatePermissionKey',
  'setSubscribeAudioAllowlist', 'setSubscribeAudioBlocklist',
]);

/** NERtcChannel methods this SDK does not have: each returns 30004 (logged, never throws). */
const CHANNEL_UNSUPPORTED = Object.freeze([
  'enableLocalSubStreamAudio', 'muteLocalSubStreamAudio', 'setLocalMediaPriority', 'setCameraCaptureConfig',
  'setCameraCaptureConfigWithType', 'enableDualStreamMode', 'subscribeRemoteSubStreamAudio', 'addLiveStreamTask',
  'updateLiveStreamTask', 'removeLiveStreamTask', 'startChannelMediaRelay', 'updateChannelMediaRelay',
  'stopChannelMediaRelay', 'setLocalPublishFallbackOption', 'setRemoteSubscribeFallbackOption',
  'setRemoteHighPriorityAudioStream', 'enableMediaPub', 'setRangeAudioMode', 'setRangeAudioTeamID',
  'setAudioRecvRange', 'updateSelfPosition', 'enableSpatializerRoomEffects', 'setSpatializerRoomProperty',
  'setSpatializerRenderMode', 'initSpatializer', 'enableSpatializer',
]);

/** The events a channel emits: NERTC's NERtcChannel events that this SDK emits (the session's
 * device, stats-of-the-engine and audio-mixing events are not the channel's). */
const CHANNEL_EVENT_NAMES = Object.freeze([
  'onError', 'onWarning', 'onJoinChannel', 'onReconnectingStart', 'onConnectionStateChange', 'onRejoinChannel',
  'onLeaveChannel', 'onDisconnect', 'onClientRoleChanged', 'onUserJoined', 'onUserLeft', 'onUserAudioStart',
  'onUserAudioStop', 'onUserAudioMute', 'onUserVideoStart', 'onUserVideoStop', 'onUserVideoMute',
  'onUserSubStreamVideoStart', 'onUserSubStreamVideoStop', 'onScreenCaptureStatus', 'onFirstAudioDataReceived',
  'onFirstVideoDataReceived', 'onFirstAudioFrameDecoded', 'onFirstVideoFrameDecoded',
  'onLocalAudioVolumeIndication', 'onRemoteAudioVolumeIndication', 'onRecvSEIMsg', 'onPermissionKeyWillExpire',
  'onUpdatePermissionKey',
]);
const CHANNEL_EVENTS = new Set(CHANNEL_EVENT_NAMES);

class NERtcChannel extends EventEmitter {
  /** Made by NERtcEngine.createChannel; `session` is an initialized NERtcEngine. */
  constructor(name, session, owner) {
    super();
    /** @private */
    this._name = name;
    /** @private the channel's own engine session, null once released */
    this._session = session;
    /** @private the NERtcEngine that made the channel */
    this._owner = owner;
    this._reportingHandlerError = false;
    this._unsupportedCalled = new Set();
    // The session's events are the channel's: emitted here, never on the session itself.
    session._dispatch = (event, args) => {
      if (CHANNEL_EVENTS.has(event)) this._dispatch(event, args);
    };
  }

  /** Leaves the channel (onLeaveChannel still fires) and releases its session; safe twice. */
  release() {
    const session = this._session;
    if (session) {
      this._owner._channels.delete(this);
      session.release();
    }
    // The session stays reachable (released) so that late calls answer 30005.
    return 0;
  }

  getChannelName() {
    return this._name;
  }

  /**
   * Joins with a uid of the SDK's choosing (NERTC's server assigns one; our server needs the
   * client's): a random one in 1..2^31-1, the uid onJoinChannel reports.
   */
  joinChannel(token) {
    return this.joinChannelWithUid(token, 1 + Math.floor(Math.random() * 0x7ffffffe));
  }

  joinChannelWithUid(token, uid) {
    return this._session.joinChannel(token, this._name, uid);
  }

  /** `channelOptions = {custom_info, permission_key}` as NERtcEngine.joinChannelWithOptions. */
  joinChannelWithOptions(token, uid, channelOptions) {
    return this._session.joinChannelWithOptions(token, this._name, uid, channelOptions);
  }
}

for (const name of CHANNEL_FORWARDED) {
  const forward = {
    [name](...args) {
      return NERtcEngine.prototype[name].apply(this._session, args);
    },
  }[name];
  Object.defineProperty(NERtcChannel.prototype, name, { value: forward, writable: true, configurable: true });
}
for (const name of CHANNEL_UNSUPPORTED) {
  const stub = {
    [name]() {
      return notSupported(this, `NERtcChannel.${name}`, ErrorCode.ERR_NOT_SUPPORTED);
    },
  }[name];
  stub[UNSUPPORTED] = true;
  Object.defineProperty(NERtcChannel.prototype, name, { value: stub, writable: true, configurable: true });
}
// Listener calls and their error reports work as NERtcEngine's.
for (const name of ['_dispatch', '_handlerThrew', '_log']) {
  Object.defineProperty(NERtcChannel.prototype, name, { value: NERtcEngine.prototype[name], writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// NERtcServer: the embedded room server

function serverConfigJson(options) {
  if (options == null) return null;
  if (typeof options !== 'object') throw new TypeError('NERtcServer options must be an object');
  return JSON.stringify(options, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
}

class NERtcServer {
  /**
   * `options` mirrors the server's TOML config (snake_case): `{listen = '127.0.0.1:0', apps:
   * {APP_KEY: {secret, debug}}, allow_unknown_apps, rtc: {bind_ip, advertised_ip,
   * udp_port_min, udp_port_max, udp_port}, timeouts: {...}, limits: {...}}`. Without `apps` every app
   * key is accepted in debug mode (null token). Throws on unknown keys.
   */
  constructor(options) {
    this._native = new native.NativeServer(serverConfigJson(options));
  }

  /** Resolves with the URL for `server_config.channel_server` (`ws://127.0.0.1:PORT`). */
  start() {
    try {
      return this._native.start();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Stops the server (sessions are told `server_shutdown`); safe to call twice. */
  stop() {
    try {
      return this._native.stop();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The URL while running, else null. */
  get url() {
    return this._native.url() || null;
  }

  /** A join token (HS256 JWT) for `uid` in `channel`, valid `ttlSecs` seconds. */
  static createToken(appKey, secret, channel, uid, ttlSecs) {
    return createToken(appKey, secret, channel, uid, ttlSecs);
  }
}

function createToken(appKey, secret, channel, uid, ttlSecs = 3600) {
  if (typeof appKey !== 'string' || appKey.length === 0) throw new TypeError('appKey must be a non-empty string');
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('secret must be a non-empty string');
  if (typeof channel !== 'string') throw new TypeError('channel must be a string');
  if (!isUidType(uid)) throw new TypeError('uid must be a positive integer');
  if (!isNumber(ttlSecs)) throw new TypeError('ttlSecs must be a non-negative integer');
  try {
    return native.createToken(appKey, secret, channel, uid, ttlSecs);
  } catch (e) {
    // The addon refuses a channel name, uid or lifetime that is not one (src/convert.rs).
    throw new TypeError(e && e.message ? e.message : String(e));
  }
}

/** `[[code, description]]` for every code the SDK returns. */
function errorCodes() {
  return native.errorCodes();
}

/** NERTC events this SDK does not emit yet (local audio stats): listeners may be added, they
 * are never called. The engine's `EngineEvent` has no variant for them. */
const JS_ONLY_EVENT_NAMES = Object.freeze(['onLocalAudioStats']);

/** Every NERTC event name: those this SDK emits (`NERtcEvents` in index.d.ts; one per variant
 * of the engine's `EngineEvent`, see `eventNames()`) and the JS-only ones above. */
const EVENT_NAMES = Object.freeze([
  'onError',
  'onWarning',
  'onJoinChannel',
  'onRejoinChannel',
  'onLeaveChannel',
  'onDisconnect',
  'onReconnectingStart',
  'onConnectionStateChange',
  'onClientRoleChanged',
  'onPermissionKeyWillExpire',
  'onRecvSEIMsg',
  'onUserDataStart',
  'onUserDataStop',
  'onUserDataStateChanged',
  'onUserDataReceiveMessage',
  'onUpdatePermissionKey',
  'onUserJoined',
  'onUserLeft',
  'onUserAudioStart',
  'onUserAudioStop',
  'onUserAudioMute',
  'onUserVideoStart',
  'onUserVideoStop',
  'onUserVideoMute',
  'onFirstAudioDataReceived',
  'onFirstVideoDataReceived',
  'onFirstAudioFrameDecoded',
  'onRemoteVideoReceiveSizeChanged',
  'onRemoteSubscribeFallbackToAudioOnly',
  'onLocalPublishFallbackToAudioOnly',
  'onFirstVideoFrameDecoded',
  'onUserSubStreamVideoStart',
  'onUserSubStreamVideoStop',
  'onScreenCaptureStatus',
  'onRtcStats',
  'onLocalVideoStats',
  'onRemoteVideoStats',
  'onRemoteAudioStats',
  'onNetworkQuality',
  'onRemoteAudioVolumeIndication',
  'onLocalAudioVolumeIndication',
  'onAudioDeviceStateChanged',
  'onAudioDefaultDeviceChanged',
  'onVideoDeviceStateChanged',
  'onAudioMixingStateChanged',
  'onAudioMixingTimestampUpdate',
  'onAudioEffectFinished',
  'onAudioEffectTimestampUpdate',
  'onAudioRecording',
  'onAddLiveStreamTask',
  'onUpdateLiveStreamTask',
  'onRemoveLiveStreamTask',
  'onLiveStreamState',
  ...JS_ONLY_EVENT_NAMES,
]);

/** The name of every event the native engine can emit (one per `EngineEvent` variant). */
function eventNames() {
  return native.eventNames();
}

// The SDK's own names, written out so that Node's ESM loader sees them as named exports
// (`import { NERtcEngine } from 'nertc-electron-sdk'` works as well as the default import).
// NERTC's enums (which our names override) and `default` (the whole API: what
// `require('nertc-electron-sdk').default` and NERTC's code use) are added to the same object.
module.exports = {
  NERtcEngine,
  NERtcChannel,
  CHANNEL_EVENT_NAMES,
  EVENT_NAMES,
  JS_ONLY_EVENT_NAMES,
  NERtcServer,
  ErrorCode,
  OWN_CODE_RANGE,
  ConnectionState,
  ConnectionChangeReason,
  UserLeftReason,
  ChannelProfile,
  ClientRole,
  VideoScalingMode,
  VideoMirrorMode,
  RemoteVideoStreamType,
  VideoProfile,
  VideoPixelFormat,
  createToken,
  errorCodes,
  eventNames,
};
const api = { ...NERTC_ENUMS, ...module.exports };
Object.assign(module.exports, api, { default: api });
