// Type definitions for nertc-electron-sdk: a self-hostable, NERTC-compatible RTC SDK.
//
// Methods are synchronous and return a result code (0 = OK, see `ErrorCode`); results that
// need the network arrive later as events (positional arguments, emitted on a later tick).

import { EventEmitter } from 'node:events';

/** A user id: a positive integer. Numbers above 2^53 lose precision; pass a BigInt for those. */
export type Uid = number | bigint;

// -------------------------------------------------------------------------------------------
// Result codes

/**
 * Every result code the SDK returns (methods, `onJoinChannel` result, `onError`, `onWarning`),
 * with NERTC 5.x's numbers (`NERtcErrorCode` below has NERTC's names for them). Codes this SDK
 * adds beyond NERTC's are in `OWN_CODE_RANGE` (30900-30999), which NERTC does not use.
 */
export declare const ErrorCode: {
  /** OK. */
  readonly OK: 0;
  /** Generic failure (kNERtcErrFatal). */
  readonly ERR_FATAL: 30001;
  /** A parameter is out of range or malformed: channel name, uid, config, frame size ... (kNERtcErrInvalidParam). */
  readonly ERR_INVALID_PARAM: 30003;
  /** A NERTC method or feature this SDK does not have (kNERtcErrNotSupported). */
  readonly ERR_NOT_SUPPORTED: 30004;
  /** Every state error: not initialized, released, initialize twice, pushing a frame nothing consumes ... (kNERtcErrInvalidState). */
  readonly ERR_INVALID_STATE: 30005;
  /** Device id unknown or the device cannot be opened (kNERtcErrDeviceNotFound). */
  readonly ERR_DEVICE_NOT_FOUND: 30008;
  /** `max_profile` outside 0-4 (kNERtcErrInvalidVideoProfile). */
  readonly ERR_INVALID_VIDEO_PROFILE: 30010;
  /** A canvas view that cannot be drawn on, reported through onWarning (kNERtcErrInvalidRender). */
  readonly ERR_INVALID_RENDER: 30012;
  /** The room server cannot be reached (kNERtcErrConnectFail). */
  readonly ERR_CONNECT_FAIL: 30015;
  /** joinChannel while joined or joining (kNERtcErrChannelAlreadyJoined). */
  readonly ERR_ALREADY_JOINED: 30100;
  /** leaveChannel (or a channel operation) while not in a channel (kNERtcErrChannelNotJoined). */
  readonly ERR_NOT_JOINED: 30101;
  /** The server refused the join for another reason (kNERtcErrRequestJoinChannelFail). */
  readonly ERR_REQUEST_JOIN_FAILED: 30103;
  /** The server refused the uid (kNERtcErrInvalidUserID). */
  readonly ERR_INVALID_USER_ID: 30106;
  /** A member's media cannot be decrypted: its enableEncryption mode or key differs from this client's, or only one side encrypts; reported through onError once per received stream, whose media is dropped (kNERtcErrEncryptNotSuitable). */
  readonly ERR_ENCRYPT_NOT_SUITABLE: 30113;
  /** The media connection stayed down (ICE restarts failed for 30 s) while signaling worked; the session ended (onDisconnect) (kNERtcErrMediaConnectionDisconnected). */
  readonly ERR_MEDIA_DISCONNECTED: 30204;
  /** The signaling connection was lost and could not be recovered within 60 s; the session ended (onDisconnect) (kNERtcErrSignalDisconnected). */
  readonly ERR_SIGNAL_DISCONNECTED: 30205;
  /** Removed from the channel by the server: another login with the same uid, or kicked (kNERtcErrServerKicked). */
  readonly ERR_KICKED: 30206;
  /** Removed because the room closed: server shutdown (kNERtcErrKickedForRoomClosed). */
  readonly ERR_ROOM_CLOSED: 30207;
  /** No permission: token missing, malformed, wrongly signed, expired or for another channel/uid; app key unknown; or publishing/subscribing not permitted (kNERtcErrChannelReservePermissionDenied). */
  readonly ERR_PERMISSION_DENIED: 403;
  /** The server did not answer in time (kNERtcErrChannelJoinTimeOut). */
  readonly ERR_JOIN_TIMEOUT: 20101;
  /** Ours: a user event handler (or a canvas's drawFrame) threw; reported through onWarning, never crashes the process. */
  readonly WARN_HANDLER_THREW: 30900;
  /** Ours: the engine's command queue is full (it is far behind); the call was not carried out. */
  readonly ERR_BUSY: 30901;
  /** @deprecated former name of ERR_INVALID_STATE. */
  readonly ERR_NOT_INITIALIZED: 30005;
  /** @deprecated former name of ERR_INVALID_STATE (was 30004). */
  readonly ERR_WRONG_STATE: 30005;
  /** @deprecated former name of ERR_CONNECT_FAIL (was 30200). */
  readonly ERR_CONNECT_FAILED: 30015;
  /** @deprecated former name of ERR_PERMISSION_DENIED. */
  readonly ERR_TOKEN: 403;
  /** @deprecated former name of ERR_PERMISSION_DENIED (was 20103). */
  readonly ERR_PERMISSION: 403;
  /** @deprecated former name of ERR_REQUEST_JOIN_FAILED (was 20102). */
  readonly ERR_JOIN_FAILED: 30103;
  /** @deprecated an unknown app key is ERR_PERMISSION_DENIED (was 20101). */
  readonly ERR_APP_KEY: 403;
};
/** Codes this SDK adds beyond NERTC's: 30900-30999 (NERTC's NERtcErrorCode uses none of them). */
export declare const OWN_CODE_RANGE: { readonly min: 30900; readonly max: 30999 };
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

// -------------------------------------------------------------------------------------------
// NERTC 5.x's enums, under NERTC's names and values (its defs.ts; nertc-api/nertc-5x.json names
// the commit). At run time numeric ones map both ways, like a compiled TypeScript enum.

export declare enum NERtcLogLevel {
  kNERtcLogLevelFatal = 0,
  kNERtcLogLevelError = 1,
  kNERtcLogLevelWarning = 2,
  kNERtcLogLevelInfo = 3,
  kNERtcLogLevelDetailInfo = 4,
  kNERtcLogLevelVerbos = 5,
  kNERtcLogLevelDebug = 6,
  kNERtcLogLevelOff = 7,
}
export declare enum NERtcRangeAudioMode {
  NERtcRangeAudioModeDefault = 0,
  NERtcRangeAudioModeTeam = 1,
}
export declare enum NERtcChannelProfileType {
  kNERtcChannelProfileCommunication = 0,
  kNERtcChannelProfileLiveBroadcasting = 1,
}
export declare enum NERtcRemoteVideoStreamType {
  kNERtcRemoteVideoStreamTypeHigh = 0,
  kNERtcRemoteVideoStreamTypeLow = 1,
  kNERtcRemoteVideoStreamTypeNone = 2,
}
export declare enum NERtcErrorCode {
  kNERtcNoError = 0,
  kNERtcErrChannelReservePermissionDenied = 403,
  kNERtcErrChannelReserveTimeOut = 408,
  kNERtcErrChannelReserveErrorParam = 414,
  kNERtcErrChannelReserveServerFail = 500,
  kNERtcErrChannelReserveMoreThanTwoUser = 600,
  kNERtcErrLsTaskRequestInvalid = 1301,
  kNERtcErrLsTaskIsInvaild = 1400,
  kNERtcErrLsTaskRoomExited = 1401,
  kNERtcErrLsTaskNumLimit = 1402,
  kNERtcErrLsTaskDuplicateId = 1403,
  kNERtcErrLsTaskNotFound = 1404,
  kNERtcErrLsTaskRequestErr = 1417,
  kNERtcErrLsTaskInternalServerErr = 1500,
  kNERtcErrLsTaskInvalidLayout = 1501,
  kNERtcErrLsTaskUserPicErr = 1512,
  kNERtcErrChannelStartFail = 11000,
  kNERtcErrChannelDisconnected = 11001,
  kNERtcErrVersionSelfLow = 11002,
  kNERtcErrVersionRemoteLow = 11003,
  kNERtcErrChannelClosed = 11004,
  kNERtcErrChannelKicked = 11005,
  kNERtcErrDataError = 11400,
  kNERtcErrInvalid = 11403,
  kNERtcErrChannelJoinTimeOut = 20101,
  kNERtcErrChannelJoinMeetingModeError = 20102,
  kNERtcErrChannelJoinRtmpModeError = 20103,
  kNERtcErrChannelJoinRtmpNodesError = 20104,
  kNERtcErrChannelJoinRtmpHostError = 20105,
  kNERtcErrChannelJoinRtmpCreateError = 20106,
  kNERtcErrChannelJoinLayoutError = 20208,
  kNERtcErrChannelJoinInvalidParam = 20400,
  kNERtcErrChannelJoinDesKey = 20401,
  kNERtcErrChannelJoinInvalidRequst = 20417,
  kNERtcErrChannelServerUnknown = 20500,
  kNERtcErrFatal = 30001,
  kNERtcErrOutOfMemory = 30002,
  kNERtcErrInvalidParam = 30003,
  kNERtcErrNotSupported = 30004,
  kNERtcErrInvalidState = 30005,
  kNERtcErrLackOfResource = 30006,
  kNERtcErrInvalidIndex = 30007,
  kNERtcErrDeviceNotFound = 30008,
  kNERtcErrInvalidDeviceSourceID = 30009,
  kNERtcErrInvalidVideoProfile = 30010,
  kNERtcErrCreateDeviceSourceFail = 30011,
  kNERtcErrInvalidRender = 30012,
  kNERtcErrDevicePreviewAlreadyStarted = 30013,
  kNERtcErrTransmitPendding = 30014,
  kNERtcErrConnectFail = 30015,
  kNERtcErrCreateDumpFileFail = 30016,
  kNERtcErrStartDumpFail = 30017,
  kNERtcErrDesktopCaptureInvalidState = 30020,
  kNERtcErrDesktopCaptureInvalidParam = 30021,
  kNERtcErrDesktopCaptureNotReady = 30022,
  kNERtcErrChannelAlreadyJoined = 30100,
  kNERtcErrChannelNotJoined = 30101,
  kNERtcErrChannelRepleatedlyLeave = 30102,
  kNERtcErrRequestJoinChannelFail = 30103,
  kNERtcErrSessionNotFound = 30104,
  kNERtcErrUserNotFound = 30105,
  kNERtcErrInvalidUserID = 30106,
  kNERtcErrMediaNotStarted = 30107,
  kNERtcErrSourceNotFound = 30108,
  kNERtcErrConnectionNotFound = 30200,
  kNERtcErrStreamNotFound = 30201,
  kNERtcErrAddTrackFail = 30202,
  kNERtcErrTrackNotFound = 30203,
  kNERtcErrMediaConnectionDisconnected = 30204,
  kNERtcErrSignalDisconnected = 30205,
  kNERtcErrServerKicked = 30206,
  kNERtcErrKickedForRoomClosed = 30207,
  kNERtcRuntimeErrADMNoAuthorize = 40000,
  kNERtcRuntimeErrVDMNoAuthorize = 50000,
  kNERtcRuntimeErrScreenCaptureNoAuthorize = 60000,
}
export declare enum NERtcSessionLeaveReason {
  kNERtcSessionLeaveNormal = 0,
  kNERtcSessionLeaveForFailOver = 1,
  kNERtcSessionLeaveUpdate = 2,
  kNERtcSessionLeaveForKick = 3,
  kNERtcSessionLeaveTimeOut = 4,
}
export declare enum NERtcVideoProfileType {
  kNERtcVideoProfileLowest = 0,
  kNERtcVideoProfileLow = 1,
  kNERtcVideoProfileStandard = 2,
  kNERtcVideoProfileHD720P = 3,
  kNERtcVideoProfileHD1080P = 4,
  kNERtcVideoProfileNone = 5,
  kNERtcVideoProfileMAX = 4,
  kNERtcVideoProfileFake = 6,
}
export declare enum NERtcVideoScalingMode {
  kNERtcVideoScaleFit = 0,
  kNERtcVideoScaleFullFill = 1,
  kNERtcVideoScaleCropFill = 2,
}
export declare enum NERtcVideoMirrorMode {
  kNERtcVideoMirrorModeAuto = 0,
  kNERtcVideoMirrorModeEnabled = 1,
  kNERtcVideoMirrorModeDisabled = 2,
}
export declare enum NERtcVideoOutputOrientationMode {
  kNERtcVideoOutputOrientationModeAdaptative = 0,
  kNERtcVideoOutputOrientationModeFixedLandscape = 1,
  kNERtcVideoOutputOrientationModeFixedPortrait = 2,
}
export declare enum NERtcRawAudioFrameOpModeType {
  kNERtcRawAudioFrameOpModeReadOnly = 0,
  kNERtcRawAudioFrameOpModeReadWrite = 1,
}
export declare enum NERtcAudioProfileType {
  kNERtcAudioProfileDefault = 0,
  kNERtcAudioProfileStandard = 1,
  kNERtcAudioProfileStandardExtend = 2,
  kNERtcAudioProfileMiddleQuality = 3,
  kNERtcAudioProfileMiddleQualityStereo = 4,
  kNERtcAudioProfileHighQuality = 5,
  kNERtcAudioProfileHighQualityStereo = 6,
}
export declare enum NERtcAudioScenarioType {
  kNERtcAudioScenarioDefault = 0,
  kNERtcAudioScenarioSpeech = 1,
  kNERtcAudioScenarioMusic = 2,
}
export declare enum NERtcVideoCropMode {
  kNERtcVideoCropModeDefault = 0,
  kNERtcVideoCropMode16x9 = 1,
  kNERtcVideoCropMode4x3 = 2,
  kNERtcVideoCropMode1x1 = 3,
}
export declare enum NERtcVideoFramerateType {
  kNERtcVideoFramerateFpsDefault = 0,
  kNERtcVideoFramerateFps_7 = 7,
  kNERtcVideoFramerateFps_10 = 10,
  kNERtcVideoFramerateFps_15 = 15,
  kNERtcVideoFramerateFps_24 = 24,
  kNERtcVideoFramerateFps_30 = 30,
  kNERtcVideoFramerateFps_60 = 60,
}
export declare enum NERtcDegradationPreference {
  kNERtcDegradationDefault = 0,
  kNERtcDegradationMaintainFramerate = 1,
  kNERtcDegradationMaintainQuality = 2,
  kNERtcDegradationBalanced = 3,
}
export declare enum NERtcAudioStreamType {
  kNERtcAudioStreamTypeMain = 0,
  kNERtcAudioStreamTypeSub = 1,
}
export declare enum NERtcDistanceRolloffModel {
  kNERtcDistanceRolloffLogarithmic = 0,
  kNERtcDistanceRolloffLinear = 1,
  kNERtcDistanceRolloffNone = 2,
}
export declare enum NERtcScreenProfileType {
  kNERtcScreenProfile480P = 0,
  kNERtcScreenProfileHD720P = 1,
  kNERtcScreenProfileHD1080P = 2,
  kNERtcScreenProfileCustom = 3,
  kNERtcScreenProfileNone = 4,
  kNERtcScreenProfileMAX = 2,
}
export declare enum NERtcSubStreamContentPrefer {
  kNERtcSubStreamContentPreferMotion = 0,
  kNERtcSubStreamContentPreferDetails = 1,
}
export declare enum NERtcMediaPriorityType {
  kNERtcMediaPriorityHigh = 50,
  kNERtcMediaPriorityNormal = 100,
}
export declare enum NERtcAudioRecordingQuality {
  kNERtcAudioRecordingQualityLow = 0,
  kNERtcAudioRecordingQualityMedium = 1,
  kNERtcAudioRecordingQualityHigh = 2,
}
export declare enum NERtcEncryptionMode {
  kNERtcGMCryptoSM4ECB = 0,
  kNERtcEncryptionModeCustom = 1,
}
export declare enum NERtcLiveStreamMode {
  kNERtcLsModeVideo = 0,
  kNERtcLsModeAudio = 1,
}
export declare enum NERtcLiveStreamVideoScaleMode {
  kNERtcLsModeVideoScaleFit = 0,
  kNERtcLsModeVideoScaleCropFill = 1,
}
export declare enum NERtcLiveStreamAudioSampleRate {
  kNERtcLiveStreamAudioSampleRate32000 = 32000,
  kNERtcLiveStreamAudioSampleRate44100 = 44100,
  kNERtcLiveStreamAudioSampleRate48000 = 48000,
}
export declare enum NERtcLiveStreamAudioCodecProfile {
  kNERtcLiveStreamAudioCodecProfileLCAAC = 0,
  kNERtcLiveStreamAudioCodecProfileHEAAC = 1,
}
export declare enum NERtcAudioDeviceTransportType {
  kNERtcAudioDeviceTransportTypeUnknown = 0,
  kNERtcAudioDeviceTransportTypeBluetooth = 1,
  kNERtcAudioDeviceTransportTypeBluetoothA2DP = 2,
  kNERtcAudioDeviceTransportTypeBluetoothLE = 3,
  kNERtcAudioDeviceTransportTypeUSB = 4,
  kNERtcAudioDeviceTransportTypeHDMI = 5,
  kNERtcAudioDeviceTransportTypeBuiltIn = 6,
  kNERtcAudioDeviceTransportTypeThunderbolt = 7,
  kNERtcAudioDeviceTransportTypeAirPlay = 8,
  kNERtcAudioDeviceTransportTypeVirtual = 9,
  kNERtcAudioDeviceTransportTypeOther = 10,
}
export declare enum NERtcVideoDeviceTransportType {
  kNERtcVideoDeviceTransportTypeUnknown = 0,
  kNERtcVideoDeviceTransportTypeUSB = 1,
  kNERtcVideoDeviceTransportTypeVirtual = 2,
  kNERtcVideoDeviceTransportTypeOther = 3,
}
export declare enum NERtcClientRole {
  kNERtcClientRoleBroadcaster = 0,
  kNERtcClientRoleAudience = 1,
}
export declare enum NERtcStreamChannelType {
  kNERtcStreamChannelTypeMainStream = 0,
  kNERtcStreamChannelTypeSubStream = 1,
}
export declare enum NERtcVideoStreamType {
  kNERtcVideoStreamMain = 0,
  kNERtcVideoStreamSub = 1,
}
export declare enum NERtcNetworkQualityType {
  kNERtcNetworkQualityUnknown = 0,
  kNERtcNetworkQualityExcellent = 1,
  kNERtcNetworkQualityGood = 2,
  kNERtcNetworkQualityPoor = 3,
  kNERtcNetworkQualityBad = 4,
  kNERtcNetworkQualityVeryBad = 5,
  kNERtcNetworkQualityDown = 6,
}
export declare enum NERtcConnectionStateType {
  kNERtcConnectionStateDisconnected = 1,
  kNERtcConnectionStateConnecting = 2,
  kNERtcConnectionStateConnected = 3,
  kNERtcConnectionStateReconnecting = 4,
  kNERtcConnectionStateFailed = 5,
}
export declare enum NERtcReasonConnectionChangedType {
  kNERtcReasonConnectionChangedLeaveChannel = 1,
  kNERtcReasonConnectionChangedChannelClosed = 2,
  kNERtcReasonConnectionChangedBeKicked = 3,
  kNERtcReasonConnectionChangedTimeOut = 4,
  kNERtcReasonConnectionChangedJoinChannel = 5,
  kNERtcReasonConnectionChangedJoinSucceed = 6,
  kNERtcReasonConnectionChangedReJoinSucceed = 7,
  kNERtcReasonConnectionChangedMediaConnectionDisconnected = 8,
  kNERtcReasonConnectionChangedSignalDisconnected = 9,
  kNERtcReasonConnectionChangedRequestChannelFailed = 10,
  kNERtcReasonConnectionChangedJoinChannelFailed = 11,
}
export declare enum NERtcAudioDeviceType {
  kNERtcAudioDeviceUnknown = 0,
  kNERtcAudioDeviceRecord = 1,
  kNERtcAudioDevicePlayout = 2,
}
export declare enum NERtcAudioDeviceState {
  kNERtcAudioDeviceActive = 0,
  kNERtcAudioDeviceUnactive = 1,
}
export declare enum NERtcAudioMixingState {
  kNERtcAudioMixingStateFinished = 0,
  kNERtcAudioMixingStateFailed = 1,
}
export declare enum NERtcAudioMixingErrorCode {
  kNERtcAudioMixingErrorOK = 0,
  kNERtcAudioMixingErrorFatal = 1,
  kNERtcAudioMixingErrorCanNotOpen = 2,
  kNERtcAudioMixingErrorDecode = 3,
  kNERtcAudioMixingErrorInterrupt = 4,
  kNERtcAudioMixingErrorHttpNotFound = 5,
  kNERtcAudioMixingErrorOpen = 6,
  kNERtcAudioMixingErrorNInfo = 7,
  kNERtcAudioMixingErrorNStream = 8,
  kNERtcAudioMixingErrorNCodec = 9,
  kNERtcAudioMixingErrorNMem = 10,
  kNERtcAudioMixingErrorCodecOpen = 11,
  kNERtcAudioMixingErrorInvalidInfo = 12,
  kNERtcAudioMixingErrorOpenTimeout = 13,
  kNERtcAudioMixingErrorIoTimeout = 14,
  kNERtcAudioMixingErrorIo = 15,
}
export declare enum NERtcLiveStreamStateCode {
  kNERtcLsStatePushing = 505,
  kNERtcLsStatePushFail = 506,
  kNERtcLsStatePushStopped = 511,
  kNERtcLsStateImageError = 512,
}
export declare enum NERtcMediaStatsEventName {
  RtcStats = "onRtcStats",
  LocalAudioStats = "onLocalAudioStats",
  RemoteAudioStats = "onRemoteAudioStats",
  LocalVideoStats = "onLocalVideoStats",
  RemoteVideoStats = "onRemoteVideoStats",
  NetworkQuality = "onNetworkQuality",
}
export declare enum NERtcVoiceChangerType {
  kNERtcVoiceChangerOff = 0,
  kNERtcVoiceChangerRobot = 1,
  kNERtcVoiceChangerGaint = 2,
  kNERtcVoiceChangerHorror = 3,
  kNERtcVoiceChangerMature = 4,
  kNERtcVoiceChangerManToWoman = 5,
  kNERtcVoiceChangerWomanToMan = 6,
  kNERtcVoiceChangerManToLoli = 7,
  kNERtcVoiceChangerWomanToLoli = 8,
}
export declare enum NERtcVoiceBeautifierType {
  kNERtcVoiceBeautifierOff = 0,
  kNERtcVoiceBeautifierMuffled = 1,
  kNERtcVoiceBeautifierMellow = 2,
  kNERtcVoiceBeautifierClear = 3,
  kNERtcVoiceBeautifierMagnetic = 4,
  kNERtcVoiceBeautifierRecordingstudio = 5,
  kNERtcVoiceBeautifierNature = 6,
  kNERtcVoiceBeautifierKTV = 7,
  kNERtcVoiceBeautifierRemote = 8,
  kNERtcVoiceBeautifierChurch = 9,
  kNERtcVoiceBeautifierBedroom = 10,
  kNERtcVoiceBeautifierLive = 11,
}
export declare enum NERtcVoiceEqualizationBand {
  kNERtcVoiceEqualizationBand_31 = 0,
  kNERtcVoiceEqualizationBand_62 = 1,
  kNERtcVoiceEqualizationBand_125 = 2,
  kNERtcVoiceEqualizationBand_250 = 3,
  kNERtcVoiceEqualizationBand_500 = 4,
  kNERtcVoiceEqualizationBand_1K = 5,
  kNERtcVoiceEqualizationBand_2K = 6,
  kNERtcVoiceEqualizationBand_4K = 7,
  kNERtcVoiceEqualizationBand_8K = 8,
  kNERtcVoiceEqualizationBand_16K = 9,
}
export declare enum NERtcSpatializerRoomCapacity {
  kNERtcSpatializerRoomCapacitySmall = 0,
  kNERtcSpatializerRoomCapacityMedium = 1,
  kNERtcSpatializerRoomCapacityLarge = 2,
  kNERtcSpatializerRoomCapacityHuge = 3,
  kNERtcSpatializerRoomCapacityNone = 4,
}
export declare enum NERtcSpatializerMaterialName {
  kNERtcSpatializerMaterialTransparent = 0,
  kNERtcSpatializerMaterialAcousticCeilingTiles = 1,
  kNERtcSpatializerMaterialBrickBare = 2,
  kNERtcSpatializerMaterialBrickPainted = 3,
  kNERtcSpatializerMaterialConcreteBlockCoarse = 4,
  kNERtcSpatializerMaterialConcreteBlockPainted = 5,
  kNERtcSpatializerMaterialCurtainHeavy = 6,
  kNERtcSpatializerMaterialFiberGlassInsulation = 7,
  kNERtcSpatializerMaterialGlassThin = 8,
  kNERtcSpatializerMaterialGlassThick = 9,
  kNERtcSpatializerMaterialGrass = 10,
  kNERtcSpatializerMaterialLinoleumOnConcrete = 11,
  kNERtcSpatializerMaterialMarble = 12,
  kNERtcSpatializerMaterialMetal = 13,
  kNERtcSpatializerMaterialParquetOnConcrete = 14,
  kNERtcSpatializerMaterialPlasterRough = 15,
  kNERtcSpatializerMaterialPlasterSmooth = 16,
  kNERtcSpatializerMaterialPlywoodPanel = 17,
  kNERtcSpatializerMaterialPolishedConcreteOrTile = 18,
  kNERtcSpatializerMaterialSheetrock = 19,
  kNERtcSpatializerMaterialWaterOrIceSurface = 20,
  kNERtcSpatializerMaterialWoodCeiling = 21,
  kNERtcSpatializerMaterialWoodPanel = 22,
  kNERtcSpatializerMaterialUniform = 23,
}
export declare enum NERtcSpatializerRenderMode {
  kNERtcSpatializerRenderStereoPanning = 0,
  kNERtcSpatializerRenderBinauralLowQuality = 1,
  kNERtcSpatializerRenderBinauralMediumQuality = 2,
  kNERtcSpatializerRenderBinauralHighQuality = 3,
  kNERtcSpatializerRenderRoomEffectsOnly = 4,
}
export declare enum NERtcAudioRecordingPosition {
  kNERtcAudioRecordingPositionMixedRecordingAndPlayback = 0,
  kNERtcAudioRecordingPositionRecording = 1,
  kNERtcAudioRecordingPositionMixedPlayback = 2,
}
export declare enum NERtcAudioRecordingCycleTime {
  kNERtcAudioRecordingCycleTime0 = 0,
  kNERtcAudioRecordingCycleTime10 = 10,
  kNERtcAudioRecordingCycleTime60 = 60,
  kNERtcAudioRecordingCycleTime360 = 360,
  kNERtcAudioRecordingCycleTime900 = 900,
}
export declare enum NERtcBackgroundSourceType {
  kNERtcBackgroundColor = 1,
  kNERtcBackgroundImage = 2,
}
export declare enum NERtcFeatureType {
  kNERTCVirtualBackground = 0,
}
export declare enum NERtcScreenCaptureStatus {
  kScreenCaptureStatusStart = 1,
  kScreenCaptureStatusPause = 2,
  kScreenCaptureStatusResume = 3,
  kScreenCaptureStatusStop = 4,
  kScreenCaptureStatusCovered = 5,
  kScreenCaptureStatusAbort = 6,
}
export declare enum NERtcScreenCaptureCustomHLBorderAction {
  kSetPos = 0,
  kSetAbove = 1,
  kSetBelow = 2,
  kHide = 3,
  kShow = 4,
}

// -------------------------------------------------------------------------------------------
// Short names for the enums used most (kept from earlier versions)

/** `getConnectionState()` / `onConnectionStateChange` states. */
export declare const ConnectionState: {
  readonly DISCONNECTED: 1;
  readonly CONNECTING: 2;
  readonly CONNECTED: 3;
  readonly RECONNECTING: 4;
  readonly FAILED: 5;
};
/** `onConnectionStateChange` reasons. */
export declare const ConnectionChangeReason: {
  readonly LEAVE: 1;
  readonly CHANNEL_CLOSED: 2;
  readonly KICKED: 3;
  readonly TIMEOUT: 4;
  readonly JOIN: 5;
  readonly JOIN_SUCCEED: 6;
  readonly REJOIN_SUCCEED: 7;
  readonly MEDIA_DISCONNECTED: 8;
  readonly SIGNAL_DISCONNECTED: 9;
  readonly REQUEST_CHANNEL_FAILED: 10;
  readonly JOIN_FAILED: 11;
};
/** `onUserLeft` reasons. */
export declare const UserLeftReason: {
  readonly NORMAL: 0;
  readonly FAILOVER: 1;
  readonly UPDATE: 2;
  readonly KICK: 3;
  readonly TIMEOUT: 4;
};
export declare const ChannelProfile: { readonly COMMUNICATION: 0; readonly LIVE_BROADCASTING: 1 };
export declare const ClientRole: { readonly BROADCASTER: 0; readonly AUDIENCE: 1 };
/** Canvas `mode`: 0 fit (letterbox), 1 fullfill (stretch), 2 cropfill (crop to fill). */
export declare const VideoScalingMode: { readonly FIT: 0; readonly FULLFILL: 1; readonly CROPFILL: 2 };
/** 0 auto (mirror the local preview), 1 always, 2 never. */
export declare const VideoMirrorMode: { readonly AUTO: 0; readonly ENABLED: 1; readonly DISABLED: 2 };
export declare const RemoteVideoStreamType: { readonly HIGH: 0; readonly LOW: 1; readonly NONE: 2 };
/** `max_profile`: 0 160x90@15, 1 320x180@15, 2 640x480@30, 3 1280x720@30, 4 1920x1080@30. */
export declare const VideoProfile: {
  readonly LOWEST: 0;
  readonly LOW: 1;
  readonly STANDARD: 2;
  readonly HD720P: 3;
  readonly HD1080P: 4;
};
export declare const VideoPixelFormat: { readonly I420: 'I420'; readonly RGBA: 'RGBA' };

// -------------------------------------------------------------------------------------------
// Configuration

export interface NERtcServerConfig {
  /**
   * Room server URL, e.g. `ws://127.0.0.1:8480` (or `NERtcServer.start()`'s result). When
   * unset: the NERTC_SERVER_URL environment variable, else `ws://127.0.0.1:8480`.
   */
  channel_server?: string;
  [key: string]: unknown;
}

export interface NERtcEngineContext {
  /** The app key (required, non-empty). */
  app_key: string;
  /** Directory for `nertc.log` (created if missing); unset: no log file. */
  log_dir_path?: string;
  /** 0 fatal, 1 error, 2 warning, 3 info (default), 4 detail/debug, 5-6 verbose, 7 off. */
  log_level?: number;
  /** Log file size cap in KB; 0 or unset = 20 MB. */
  log_file_max_size_KBytes?: number;
  server_config?: NERtcServerConfig;
}

export interface NERtcVideoConfig {
  /** 0 160x90@15, 1 320x180@15, 2 640x480@30, 3 1280x720@30, 4 1920x1080@30. */
  max_profile?: number;
  /** Explicit size (even numbers, up to 3840x2160); overrides max_profile's size. */
  width?: number;
  height?: number;
  /** Frames per second (up to 60). */
  framerate?: number;
  min_framerate?: number;
  /** Target bitrate in kbps (0 = chosen from size and frame rate). */
  bitrate?: number;
  min_bitrate?: number;
  /**
   * The encoded video's mirror (what the others see): 1 mirrors it; 0 (auto) and 2 send it as
   * captured. The local preview's mirror is setLocalVideoMirrorMode's / the canvas's, not changed here.
   */
  mirror_mode?: number;
  /** NERtcVideoCropMode: 0 none, 1 16:9, 2 4:3, 3 1:1 (centred cut of the captured picture, in its orientation; preview and sent). */
  crop_mode?: number;
  /** NERtcDegradationPreference: what gives way after the bitrate when the uplink estimate is
   * too low for the configuration (1 the size, 2 the frame rate then the size, 3 the frame rate
   * to 2/3 then the size, 0 nothing but the bitrate). */
  degradation_preference?: number;
  /** NERtcVideoOutputOrientationMode: 0 as captured, 1 fixed landscape, 2 fixed portrait (a picture of the other orientation is cut). */
  orientation_mode?: number;
}

/** `joinChannelWithOptions`: both optional; `permission_key` is the join token when `token` is empty; `custom_info` (at most 127 characters) is the `userName` others get in onUserJoined. */
export interface NERtcJoinChannelOptions {
  custom_info?: string;
  permission_key?: string;
}

/** A rectangle in pixels (screen capture). */
export interface NERtcRectangle {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Argument objects of NERTC methods this SDK does not support yet, under NERTC's names (their
 * fields are NERTC's; nothing reads them here). Each becomes a precise interface when its method
 * is implemented.
 */
export interface NERtcCameraCaptureConfig { [field: string]: unknown }

/** How a screen share is encoded (`startScreenCapture*`). Missing fields take the defaults. */
export interface NERtcScreenCaptureParameters {
  /** NERtcScreenProfileType: 0 640x480, 1 1280x720, 2 1920x1080 (default), 3 custom; 5 fps. */
  profile?: number;
  /** Largest picture sent (custom profile); larger captures are scaled down, aspect kept. */
  dimensions?: { width: number; height: number };
  /** fps (custom profile), 1..30; default 5. */
  frame_rate?: number;
  /** bps; 0 (default) derives one from the size and rate. */
  bitrate?: number;
  /** Draw the cursor into the shared picture (default true). */
  capture_mouse_cursor?: boolean;
  /** Accepted; the window is not raised. */
  window_focus?: boolean;
  /** Windows painted black where they cover a shared display or rectangle. */
  excluded_window_list?: number[];
  excluded_window_count?: number;
  /** NERtcSubStreamContentPrefer: 1 (details) caps the rate at 10 fps. */
  prefer?: number;
}
/** `setExcludeWindowList` / `updateScreenCaptureParameters`. */
export interface NERtcScreenCaptureWindowParam {
  window_list: number[];
}
/** A BGRA picture of `enumerateScreenCaptureSourceInfo`. */
export interface NERtcBGRAImage {
  buffer: Uint8Array;
  length: number;
  width: number;
  height: number;
}
/** One entry of `enumerateScreenCaptureSourceInfo`. */
export interface NERtcScreenCaptureSourceInfo {
  /** Display id (startScreenCaptureByDisplayId) or window id (startScreenCaptureByWindowId). */
  sourceId: number;
  /** The display id as a string for screens, '' for windows. */
  displayId: string;
  sourceName: string;
  /** 1 screen, 2 window. */
  type: number;
  isMinimizeWindow: boolean;
  /** Absent when none could be taken (a minimized window). */
  thumbBGRA?: NERtcBGRAImage;
  /** The window's _NET_WM_ICON when it has one. */
  iconBGRA?: NERtcBGRAImage;
}
/**
 * `startAudioMixing` / `playEffect` options (NERTC's names). Files: WAV, MP3, AAC (M4A/MP4 or
 * ADTS), FLAC, Ogg Vorbis, Ogg Opus, decoded to 48 kHz. `send_type` is accepted and ignored.
 */
export interface NERtcCreateAudioMixingOption {
  path: string;
  /** Plays this many times; <= 0 loops until stopped. Default 1. */
  loop_count?: number;
  send_enabled?: boolean;
  /** 0-100, default 100. */
  send_volume?: number;
  playback_enabled?: boolean;
  /** 0-100, default 100. */
  playback_volume?: number;
  /** Where to start, ms. */
  start_timestamp?: number;
  /** onAudioMixingTimestampUpdate / onAudioEffectTimestampUpdate period, ms (default 1000, at least 100). */
  progress_interval?: number;
  send_type?: number;
}
export type NERtcCreateAudioEffectOption = NERtcCreateAudioMixingOption;
/** NERTC's `NERtcLiveStreamUserTranscoding`: where a user goes on the live canvas. */
export interface NERtcLiveStreamUserTranscoding {
  uid: Uid;
  /** Draw this user's video (default true; ignored in audio-only mode). Our uid: the local
   * preview; another uid: the frames this engine decodes (subscribe to them), background until one arrives. */
  video_push?: boolean;
  /** NERtcLiveStreamVideoScaleMode: 0 fit (letterboxed in the background colour), 1 crop-fill. */
  adaption?: NERtcLiveStreamVideoScaleMode;
  /** The rectangle on the canvas; it must lie inside it (else 30003 and onAddLiveStreamTask(1501)). */
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  /** Mix this user's audio (default true). Our uid: what we send; another uid: its audio as
   * this engine decodes it for the speaker (after adjustUserPlaybackSignalVolume). */
  audio_push?: boolean;
}
/** NERTC's `NERtcLiveStreamImageInfo`: not drawn (onLiveStreamState(512) when a url is set). */
export interface NERtcLiveStreamImageInfo {
  url?: string;
  x?: number;
  y?: number;
  width?: number;
  height?: number;
}
/** NERTC's `NERtcLiveStreamLayout`. */
export interface NERtcLiveStreamLayout {
  /** Canvas size, 16-1920 each (odd sizes are coded one pixel smaller); unused in audio-only mode. */
  width?: number;
  height?: number;
  /** `R << 16 | G << 8 | B`. */
  background_color?: number;
  /** The first `user_count` of `users` (default: all; at most 16). */
  user_count?: number;
  users?: NERtcLiveStreamUserTranscoding[];
  bg_image?: NERtcLiveStreamImageInfo;
}
/** NERTC's `NERtcLiveConfig` (the video is 15 fps H.264 constrained baseline at ~0.1 bit per pixel, an IDR each second). */
export interface NERtcLiveConfig {
  /** No effect (NERTC's server-side passthrough; the engine always composes). */
  single_video_passthrough?: boolean;
  /** kb/s, 10-192 (default 64). */
  audio_bitrate?: number;
  /** 32000, 44100 or 48000 (default). */
  sample_rate?: NERtcLiveStreamAudioSampleRate;
  /** 1 or 2 (default). */
  channels?: number;
  /** 0 LC-AAC (default); 1 HE-AAC is sent as LC-AAC. */
  audio_codec_profile?: NERtcLiveStreamAudioCodecProfile;
}
/**
 * NERTC's `NERtcLiveStreamTaskInfo`. The engine composes the layout itself (the server has no
 * decoders) and pushes FLV (H.264 + AAC) over RTMP to `stream_url`.
 */
export interface NERtcLiveStreamTaskInfo {
  /** 1-63 characters, unique among this engine's tasks (a duplicate: 30003 and onAddLiveStreamTask(1403)). */
  task_id: string;
  /** `rtmp://host[:port]/app/key`, under 256 characters. */
  stream_url: string;
  /** No effect (no server-side recording). */
  server_record_enabled?: boolean;
  /** NERtcLiveStreamMode: 0 video and audio (default), 1 audio only. */
  ls_mode?: NERtcLiveStreamMode;
  layout?: NERtcLiveStreamLayout;
  config?: NERtcLiveConfig;
}
export interface NERtcJoinChannelOptionsEx { [field: string]: unknown }
/**
 * `filePath` ends in .wav (16-bit PCM, mono) or .aac (mono AAC-LC in ADTS frames; 30004 and
 * onAudioRecording(1) in a build without the `aac` cargo feature, such as the Windows release).
 */
export interface NERtcAudioRecordingConfiguration {
  filePath: string;
  /** 16000, 32000, 44100 or 48000. */
  sampleRate: number;
  /** NERtcAudioRecordingQuality: AAC's bit rate, 0 low 32 kb/s, 1 medium 64 kb/s, 2 high 96 kb/s (a WAV is 16-bit PCM whatever it says). */
  quality?: number;
  /** NERtcAudioRecordingPosition: 0 sent and played mixed (default), 1 sent, 2 played. */
  position?: number;
  /** NERtcAudioRecordingCycleTime: 0 the whole call; N (10, 60, 360, 900) the last N seconds, written at the stop. */
  cycleTime?: number;
}
export interface NERtcChannelMediaRelayConfiguration { [field: string]: unknown }
/** enableEncryption's configuration. */
export interface NERtcEncryptionConfig {
  /** NERtcEncryptionMode: 0 (kNERtcGMCryptoSM4ECB, the default) SM4 with a 128-bit key; 1 (custom) is not supported (30004). */
  mode?: NERtcEncryptionMode | number;
  /** The key: any non-empty string; every member of the channel must use the same one. */
  key?: string;
}
export interface NERtcReverbParam {
  /** 0-1 */
  wetGain: number;
  /** 0-1 */
  dryGain: number;
  /** 0-1 */
  damping: number;
  /** 0-1 */
  roomSize: number;
  /** seconds, 0.1-20 */
  decayTime: number;
  /** seconds, 0-1 */
  preDelay: number;
}
export interface VirtualBackgroundSource { [field: string]: unknown }

export interface NERtcDevice {
  device_id: string;
  device_name: string;
  transport_type: number;
  suspected_unavailable: boolean;
  system_default_device: boolean;
}

/** `pushExternalVideoFrame`: tightly packed planes. */
export interface NERtcExternalVideoFrame {
  /** `'I420'` (default; also 0) or `'RGBA'` (also 1). */
  format?: 'I420' | 'RGBA' | 'i420' | 'rgba' | 0 | 1;
  width: number;
  height: number;
  /** I420: w*h + 2*ceil(w/2)*ceil(h/2) bytes; RGBA: w*h*4 bytes. Copied. */
  data: Uint8Array | Uint8ClampedArray;
  /** Capture time in ms (default: now). */
  timestamp?: number;
}

/** `pushExternalAudioFrame`: interleaved 16-bit PCM; rate and channels as in setExternalAudioSource. */
export interface NERtcExternalAudioFrame {
  data: Int16Array;
  sample_rate: number;
  channels: number;
  /** When given, must equal data.length / channels. */
  samples_per_channel?: number;
  /** Capture time in ms (default: now). */
  timestamp?: number;
}

// -------------------------------------------------------------------------------------------
// Rendering

/** What a canvas's renderer receives, at most 30 times a second, only when a newer frame exists. */
export interface NERtcVideoFrame {
  width: number;
  height: number;
  /** Luma plane, `strides.y * height` bytes. The same buffer is reused for every frame of this size. */
  y: Uint8Array;
  /** Chroma planes, `strides.u * ceil(height / 2)` bytes each. Reused like `y`. */
  u: Uint8Array;
  v: Uint8Array;
  strides: { y: number; u: number; v: number };
  /** Capture time, ms since the Unix epoch. */
  timestamp: number;
  /** Draw mirrored (local preview in mirror mode, or canvas.mirror). */
  mirrored: boolean;
  /** The stream's user; 0 for the local preview. */
  uid: Uid;
  /** The canvas's scaling mode. */
  mode: number;
}

/** Anything that can draw frames. In Node any object with `drawFrame` is a valid view. */
export interface NERtcFrameSink {
  drawFrame(frame: NERtcVideoFrame): void;
  /** Called when the canvas is unbound or the engine released (renderers created by the SDK). */
  destroy?(): void;
}

export interface NERtcVideoCanvas {
  /** A drawFrame-capable object or (in Electron, with a DOM renderer installed) an HTMLElement; null unbinds. */
  view: NERtcFrameSink | HTMLElementLike | null;
  /** 0 fit (default), 1 fullfill, 2 cropfill. */
  mode?: number;
  /** The same as `mode` (the spelling apps built on NERTC's samples use); `mode` wins when both are set. */
  scaling_mode?: number;
  /** Mirror the local preview (local canvas only). */
  mirror?: boolean;
}

/** Structural stand-in for a DOM element, so these types compile without the DOM lib. */
export interface HTMLElementLike {
  readonly nodeType: number;
  appendChild(node: unknown): unknown;
}

// -------------------------------------------------------------------------------------------
// Statistics

export interface NERtcStats {
  /** Seconds since joining. */
  total_duration: number;
  tx_bytes: number;
  rx_bytes: number;
  tx_audio_kbitrate: number;
  rx_audio_kbitrate: number;
  tx_video_kbitrate: number;
  rx_video_kbitrate: number;
  /** CPU use of this process (%). */
  cpu_app_usage: number;
  /** Memory of this process (KB). */
  memory_app_kbytes: number;
  /** Users in the channel, including us. */
  user_count: number;
  /** Round trips of the publishing (up) and receiving (down) media paths, from ICE consent checks (ms); the signaling ping until measured; 0 before either. */
  up_rtt: number;
  down_rtt: number;
  /** Cumulative bytes per media (payload). */
  tx_audio_bytes: number;
  tx_video_bytes: number;
  rx_audio_bytes: number;
  rx_video_bytes: number;
  /** Received packets lost on the network before repair, over the last 2 s (%), and in total. */
  rx_audio_packet_loss_rate: number;
  rx_video_packet_loss_rate: number;
  rx_audio_packet_loss_sum: number;
  rx_video_packet_loss_sum: number;
  /** Arrival jitter of received audio (ms): the jitter buffer's 95th percentile over 2 s. Not given (not measured): tx_audio_packet_loss_rate/_sum (the server does not NACK audio), tx_audio_jitter, tx_video_jitter. */
  rx_audio_jitter: number;
  /** RFC 3550 interarrival jitter of received video (ms). */
  rx_video_jitter: number;
  /** While publishing video: our video packets the server had to NACK (lost on the way up) over the last 2 s (%), and in total. */
  tx_video_packet_loss_rate?: number;
  tx_video_packet_loss_sum?: number;
}

export interface NERtcVideoLayerSendStats {
  /** 1 main stream. */
  layer_type: number;
  width: number;
  height: number;
  capture_frame_rate: number;
  encoder_frame_rate: number;
  sent_frame_rate: number;
  /** kbps. */
  sent_bitrate: number;
  /** What the encoder is asked for (kbps): the configured bitrate, lowered to fit the uplink estimate. */
  target_bitrate: number;
  /** The uplink estimate of send-side congestion control (kbps); 0 before its first feedback. */
  estimated_uplink_bitrate: number;
  /** Average encode time per frame (ms); absent on the low layer's entry. */
  encode_time_ms?: number;
  codec_name: string;
  /**
   * Dual stream (enableDualStreamMode): true on the second entry, the main stream's low layer
   * (its target_bitrate is 0 while the server says nobody receives it, and it is not encoded).
   */
  low?: boolean;
}

export interface NERtcVideoSendStats {
  video_layers_count: number;
  video_layers_list: NERtcVideoLayerSendStats[];
}

export interface NERtcVideoLayerRecvStats {
  layer_type: number;
  width: number;
  height: number;
  /** kbps. */
  received_bitrate: number;
  decoder_frame_rate: number;
  packets_lost: number;
  /** Accumulated frozen time (ms). */
  total_frozen_time: number;
}

export interface NERtcVideoRecvStats {
  uid: Uid;
  video_layers_count: number;
  video_layers_list: NERtcVideoLayerRecvStats[];
}

export interface NERtcAudioLayerRecvStats {
  /** 0 main stream. */
  stream_type: number;
  /** kbps. */
  received_bitrate: number;
  /** 0-255. */
  volume: number;
  packets_lost: number;
  /** Packets lost on the network in the last 2 s, before FEC and concealment (%). */
  audio_loss_rate: number;
  /** Accumulated audio frozen time (ms): concealment (PLC, silence, empty buffer) lasting >= 200 ms. */
  total_frozen_time: number;
  /** total_frozen_time as a share of the audio played (%). */
  frozen_rate: number;
}

export interface NERtcAudioRecvStats {
  uid: Uid;
  audio_layers_count: number;
  audio_layers_list: NERtcAudioLayerRecvStats[];
}

export interface NERtcNetworkQualityInfo {
  uid: Uid;
  /** 0 unknown, 1 excellent, 2 good, 3 poor, 4 bad, 5 very bad, 6 down. */
  tx_quality: number;
  rx_quality: number;
}

export interface NERtcAudioVolumeInfo {
  uid: Uid;
  /** 0-255. */
  volume: number;
}

// -------------------------------------------------------------------------------------------
// Events

/** Event name → listener signature. Uids are numbers (BigInt above 2^53). */
export interface NERtcEvents {
  onError: (code: number, msg: string) => void;
  /** Also `onWarning(30900, msg)` when one of your handlers (or a drawFrame) throws. */
  onWarning: (code: number, msg: string) => void;
  /** `cid`: the channel's id; `result`: 0 or an error code; `elapsed`: ms since joinChannel. */
  onJoinChannel: (cid: number, uid: Uid, result: number, elapsed: number) => void;
  onRejoinChannel: (cid: number, uid: Uid, result: number, elapsed: number) => void;
  /** Fires after leaveChannel(), and after release() while in a channel. */
  onLeaveChannel: (result: number) => void;
  onDisconnect: (reason: number) => void;
  onReconnectingStart: (cid: number, uid: Uid) => void;
  /** `state`: ConnectionState; `reason`: ConnectionChangeReason. */
  onConnectionStateChange: (state: number, reason: number) => void;
  /**
   * 0 broadcaster, 1 audience: the role that applies changed while in a channel
   * (setClientRole in the live profile). The server is told: others see a new broadcaster
   * join (onUserJoined) and a new audience member leave (onUserLeft, reason 0).
   */
  onClientRoleChanged: (oldRole: number, newRole: number) => void;
  /** SEI data another user sent with sendSEIMsg, from its video stream (which must be subscribed). */
  onRecvSEIMsg: (uid: Uid, data: ArrayBuffer) => void;
  /** A user turned its data channel on (enableLocalData(true)); also for users whose channel is on when we join. */
  onUserDataStart: (uid: Uid) => void;
  /** A user turned its data channel off. */
  onUserDataStop: (uid: Uid) => void;
  /** Fired with each onUserDataStart / onUserDataStop. */
  onUserDataStateChanged: (uid: Uid) => void;
  /** A sendData message, in the order it was sent. */
  onUserDataReceiveMessage: (uid: Uid, data: ArrayBuffer) => void;
  /** The session's token (NERTC's permission key) expires in 30 s: call updatePermissionKey. */
  onPermissionKeyWillExpire: () => void;
  /** After updatePermissionKey: `code` 0 and `time` = the new token's seconds left, or the refusal code. */
  onUpdatePermissionKey: (key: string, code: number, time: number) => void;
  /**
   * Also fired for users already in the room when we join. `userName`: the joiner's
   * joinChannelWithOptions `custom_info` ('' after a plain joinChannel). Audience members (live
   * profile) are not announced.
   */
  onUserJoined: (uid: Uid, userName: string) => void;
  /** `reason`: UserLeftReason (0 normal, 1 failover, 2 update, 3 kick, 4 timeout). */
  onUserLeft: (uid: Uid, reason: number) => void;
  onUserAudioStart: (uid: Uid) => void;
  onUserAudioStop: (uid: Uid) => void;
  onUserAudioMute: (uid: Uid, mute: boolean) => void;
  /** Subscribe with subscribeRemoteVideoStream(uid, 0, true) to receive the video. */
  onUserVideoStart: (uid: Uid, maxProfile: number) => void;
  onUserVideoStop: (uid: Uid) => void;
  onUserVideoMute: (uid: Uid, mute: boolean) => void;
  onFirstAudioDataReceived: (uid: Uid) => void;
  onFirstVideoDataReceived: (uid: Uid) => void;
  onFirstAudioFrameDecoded: (uid: Uid) => void;
  /** `streamType` 0 the main stream (camera), 1 the substream (screen share). */
  /**
   * A remote stream's decoded size changed after its first frame: the publisher changed it, or
   * the stream switched between the high and the low layer (subscribeRemoteVideoStream's type,
   * or the downlink fallback). `type`: 0 main stream, 1 substream.
   */
  onRemoteVideoReceiveSizeChanged: (uid: Uid, type: number, width: number, height: number) => void;
  /**
   * After setRemoteSubscribeFallbackOption(2): `isFallback` true when the server stopped
   * forwarding `uid`'s video because this client's downlink cannot carry even its low stream
   * (the audio continues), false when the video resumed. `streamType` 0 (the main stream).
   */
  onRemoteSubscribeFallbackToAudioOnly: (uid: Uid, isFallback: boolean, streamType: number) => void;
  /**
   * After setLocalPublishFallbackOption(2): true when this client's camera video stopped
   * because the uplink cannot carry it (the audio continues), false when it is sent again.
   * `streamType` 0 (the main stream).
   */
  onLocalPublishFallbackToAudioOnly: (isFallback: boolean, streamType: number) => void;
  onFirstVideoFrameDecoded: (uid: Uid, width: number, height: number, streamType: number) => void;
  /** A remote user started sharing; subscribeRemoteVideoSubStream(uid, true) to receive it. */
  onUserSubStreamVideoStart: (uid: Uid, maxProfile: number) => void;
  onUserSubStreamVideoStop: (uid: Uid) => void;
  /** NERtcScreenCaptureStatus: 1 start, 2 pause, 3 resume, 4 stop, 6 abort (window gone). */
  onScreenCaptureStatus: (status: number) => void;
  /** Every 2 s while in a channel. */
  onRtcStats: (stats: NERtcStats) => void;
  onLocalVideoStats: (stats: NERtcVideoSendStats) => void;
  /** Every 2 s while some remote video is received (never with an empty list). */
  onRemoteVideoStats: (count: number, stats: NERtcVideoRecvStats[]) => void;
  /** Every 2 s while some remote audio is received (never with an empty list); `volume` 0-100. */
  onRemoteAudioStats: (count: number, stats: NERtcAudioRecvStats[]) => void;
  onNetworkQuality: (count: number, stats: NERtcNetworkQualityInfo[]) => void;
  /**
   * After enableAudioVolumeIndication(true, interval). Volumes on NERTC's 0-100 scale; the local
   * user is uid 0 among the speakers while it sends audio (volume 0 while muted).
   */
  onRemoteAudioVolumeIndication: (speakers: NERtcAudioVolumeInfo[], speakerNumber: number, totalVolume: number) => void;
  /** 0-100; 0 while the local audio is muted or not sent. */
  onLocalAudioVolumeIndication: (volume: number) => void;
  /** A microphone (`device_type` 1) or speaker (2) was plugged in (`device_state` 0) or removed (1), seen within 2 s, or the one in use stopped working (1: unplugged, sound server gone). */
  onAudioDeviceStateChanged: (device_id: string, device_type: number, device_state: number) => void;
  /** The sound server's default microphone (`device_type` 1) or speaker (2) changed; unless `setRecordDevice` / `setPlayoutDevice` picked a device, the engine moved to it. */
  onAudioDefaultDeviceChanged: (device_id: string, device_type: number) => void;
  /** A camera was plugged in (`device_state` 0) or removed (1), seen within 2 s; `device_type` 1 = capture. */
  onVideoDeviceStateChanged: (device_id: string, device_type: number, device_state: number) => void;
  /** NERtcAudioMixingState 0 finished (errorCode 0) or 1 failed (a NERtcAudioMixingErrorCode). */
  onAudioMixingStateChanged: (state: number, errorCode: number) => void;
  /** The mixing's position in ms, every `progress_interval` (1 s by default). */
  onAudioMixingTimestampUpdate: (timestampMs: number) => void;
  onAudioEffectFinished: (effectId: number) => void;
  onAudioEffectTimestampUpdate: (effectId: number, timestampMs: number) => void;
  /** NERtcAudioRecordingCode: 3 started, 5 finished, 1 unsupported type (.aac in a build without AAC), 2 cannot create the file, 4 write error. */
  onAudioRecording: (code: number, filePath: string) => void;
  /** addLiveStreamTask's outcome: 0, or 1402 too many tasks / 1403 duplicate id / 1501 layout out of the canvas. */
  onAddLiveStreamTask: (taskId: string, url: string, error: number) => void;
  /** updateLiveStreamTask's outcome: 0, or 1404 unknown task / 1501 layout out of the canvas. */
  onUpdateLiveStreamTask: (taskId: string, url: string, error: number) => void;
  /** removeLiveStreamTask's outcome: 0, or 1404 unknown task. */
  onRemoveLiveStreamTask: (taskId: string, error: number) => void;
  /** NERtcLiveStreamStateCode: 505 pushing (the RTMP server took the stream), 506 failed (cannot
   * connect, refused, or the connection broke: the task is gone), 511 stopped (removed, or
   * leaveChannel), 512 the background image is not drawn. */
  onLiveStreamState: (taskId: string, url: string, state: number) => void;
}

// -------------------------------------------------------------------------------------------
// NERtcEngine

export declare class NERtcEngine extends EventEmitter {
  constructor();

  on<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  once<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  off<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  addListener<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  prependListener<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  prependOnceListener<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  removeListener<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  removeAllListeners(event?: keyof NERtcEvents): this;
  listenerCount(event: keyof NERtcEvents): number;

  /**
   * Creates the engine. 0, or 30003 (bad context: missing app_key ...), 30005 (already
   * initialized), 30001. Every other method returns 30005 until this succeeds (except the
   * unsupported ones, which always return 30004).
   */
  initialize(context: NERtcEngineContext): number;
  /**
   * Leaves the channel (onLeaveChannel still fires, before the engine's teardown ends),
   * stops capture and playback, unbinds every canvas. Returns at once; safe to call twice and
   * in any state. `initialize` may be called again.
   */
  release(): number;
  getVersion(): string;
  getErrorDescription(code: number): string;
  /** false: none of NERTC's optional features (NERtcFeatureType: virtual background) exists here. */
  isFeatureSupported(type: number): boolean;
  /**
   * JSON (string or object). Honoured: NERTC's `auto_subscribe_audio` (default true),
   * `log_level`, `video_sendonpub_type` 1, the microphone's audio processing (booleans; NERTC's
   * names and defaults) `audio_processing_aec_enable` (true), `audio_processing_ns_enable`
   * (true), `audio_processing_agc_enable` (true), `audio_processing_earphone` (false: true turns
   * echo cancellation off, there is no echo on headphones); ours `server_url`,
   * `auto_subscribe_video`. Other keys (`record_*`, `publish_self_stream_enabled`,
   * `video_sendonpub_type` 0/2/3, unknown ones) are not applied: 30004 (honoured keys of the
   * call still apply); a value of the wrong type: 30003, nothing applied.
   */
  setParameters(params: string | Record<string, unknown>): number;
  /**
   * `scenario` picks the microphone's audio processing: kNERtcAudioScenarioDefault and
   * kNERtcAudioScenarioSpeech run echo cancellation, noise suppression and gain control;
   * kNERtcAudioScenarioMusic keeps echo cancellation only. `profile` (0-6) is checked; the codec
   * stays 48 kHz mono Opus. 30003 outside the enums.
   */
  setAudioProfile(profile: NERtcAudioProfileType, scenario: NERtcAudioScenarioType): number;
  /**
   * Device volume and mute: a gain on the device's PCM (0-255, 255 = unity; 30003 outside),
   * kept across device changes. Volume getters return -30005 without an engine.
   */
  setRecordDeviceVolume(volume: number): number;
  getRecordDeviceVolume(): number;
  setPlayoutDeviceVolume(volume: number): number;
  getPlayoutDeviceVolume(): number;
  setPlayoutDeviceMute(mute: boolean): number;
  getPlayoutDeviceMute(): boolean;
  setRecordDeviceMute(mute: boolean): number;
  getRecordDeviceMute(): boolean;
  /** Runs the microphone (in a channel or not); its level comes as onLocalAudioVolumeIndication every `interval` ms (100-10000). */
  startRecordDeviceTest(interval: number): number;
  stopRecordDeviceTest(): number;
  /** The speaker plays a WAV file in a loop, mixed with the call (30003 if there is no such file; an unreadable one: onError 30003). */
  startPlayoutDeviceTest(path: string): number;
  stopPlayoutDeviceTest(): number;
  /** The microphone plays on the speaker (at most 200 ms behind); its level every `interval` ms (100-10000). */
  startAudioDeviceLoopbackTest(interval: number): number;
  stopAudioDeviceLoopbackTest(): number;
  /** 1 disconnected, 2 connecting, 3 connected, 4 reconnecting, 5 failed. */
  getConnectionState(): number;
  /**
   * A second channel (NERTC's NERtcChannel) named `channelName`: its own session on this
   * engine's app key and server, joined, left and released on its own, with its own events.
   * null before initialize, for an empty or non-string name, or while a live channel of this
   * engine has that name. Released with this engine.
   */
  createChannel(channelName: string): NERtcChannel | null;

  /**
   * 0 communication (default), 1 live. Before joining only (30005 in a channel); kept after
   * leaving. Roles apply in the live profile only; the join carries the role that applies.
   */
  setChannelProfile(profile: number): number;
  /**
   * 0 broadcaster (default), 1 audience: an audience member does not publish. Applies in the
   * live profile; in the communication profile everyone broadcasts and the role is kept until
   * the profile is live. The role reaches the server: an audience member is invisible to the
   * others (no onUserJoined/onUserLeft) and the server refuses its publishing; a switch makes
   * it appear (onUserJoined) or disappear (onUserLeft, reason 0) for the others.
   */
  setClientRole(role: number): number;
  /**
   * `token`: null/empty for debug-mode apps, else a token from the app's secret.
   * `channelName`: 1-64 bytes of a-zA-Z0-9, space and !#$%&()+-:;<=.,>?@[]^_{|}~.
   * `uid`: a positive integer. 0, or 30003 / 30100 (already joined) / 30005; the result
   * arrives as onJoinChannel(cid, uid, result, elapsed). Like an open socket, an engine in a
   * channel keeps Node running until it leaves (onLeaveChannel, a failed join, a disconnect)
   * or is released; an idle engine never does.
   */
  joinChannel(token: string | null | undefined, channelName: string, uid: Uid): number;
  /**
   * joinChannel with NERTC's options; `custom_info` and `permission_key` are checked (strings)
   * and not sent to the server yet (logged when given).
   */
  joinChannelWithOptions(token: string | null | undefined, channelName: string, uid: Uid, channelOptions?: NERtcJoinChannelOptions | null): number;
  /** 0 or 30101 when not in a channel; then onLeaveChannel(0). */
  leaveChannel(): number;

  /** Binds (or with `null` / `{view: null}` unbinds) the local preview. */
  setupLocalVideoCanvas(canvas: NERtcVideoCanvas | null): number;
  /** Binds (or unbinds) a remote user's video. */
  setupRemoteVideoCanvas(uid: Uid, canvas: NERtcVideoCanvas | null): number;
  /**
   * PNG data URL of the last frame drawn for `uid` or `'local'` (DOM canvases) on the main
   * stream (`streamType` 0, the default) or the substream (1); '' when there is none.
   */
  captureImageByUid(uid: number | bigint | 'local', streamType?: number): string;
  /** Scaling mode of the canvas bound for `uid` or `'local'` (0 fit, 1 fullfill, 2 cropfill): 0, -1 when none is bound, 30003. */
  setRenderMode(uid: number | bigint | 'local', mode: number): number;
  setVideoConfig(config: NERtcVideoConfig): number;
  /** Preview without joining (default 640x480). */
  startVideoPreview(): number;
  stopVideoPreview(): number;
  /** Starts capture, publishing (when joined) and preview. */
  enableLocalVideo(enabled: boolean): number;
  muteLocalVideoStream(mute: boolean): number;
  /** 0 auto, 1 on, 2 off. */
  setLocalVideoMirrorMode(mode: number): number;

  // NERTC's *WithType variants: streamType 0 (main stream) as the plain method; 1 (substream)
  // is not supported (30004) except by muteLocalVideoStreamWithType (the screen share is set
  // up with startScreenCapture*); anything else 30003.
  setVideoConfigWithType(streamType: number, config: NERtcVideoConfig): number;
  startVideoPreviewWithType(streamType: number): number;
  stopVideoPreviewWithType(streamType: number): number;
  enableLocalVideoWithType(streamType: number, enabled: boolean): number;
  /** 1: the screen share keeps capturing and sends nothing while muted. */
  muteLocalVideoStreamWithType(streamType: number, mute: boolean): number;
  setLocalVideoMirrorModeWithType(streamType: number, mode: number): number;
  /** NERTC's argument order: the device id first. */
  setVideoDeviceWithType(id: string, streamType: number): number;
  /** The camera of the main stream (0); '' for the substream. */
  getVideoDeviceWithType(streamType: number): string;

  enableLocalAudio(enabled: boolean): number;
  muteLocalAudioStream(mute: boolean): number;
  /** 0-400 (100 = unchanged). */
  adjustRecordingSignalVolume(volume: number): number;
  /** 0-400 (100 = unchanged). */
  adjustPlaybackSignalVolume(volume: number): number;
  /** `interval`: ms, a multiple of 100. */
  enableAudioVolumeIndication(enable: boolean, interval: number): number;

  /**
   * `streamType`: 0 high, 1 low (the publisher's low stream in dual stream mode, else its only
   * one), 2 none. Calling it again with the other type switches the stream (at the next
   * keyframe, without a gap). 30101 when not in a channel.
   */
  subscribeRemoteVideoStream(uid: Uid, streamType: number, subscribe: boolean): number;
  /** Audio is subscribed automatically; this turns it off and on. */
  subscribeRemoteAudioStream(uid: Uid, subscribe: boolean): number;
  /**
   * Every remote user's audio on or off for this call, users who join later included. In a
   * channel only (30101). Unlike NERTC, subscribeRemoteAudioStream still picks single users
   * afterwards.
   */
  subscribeAllRemoteAudioStream(subscribe: boolean): number;
  /**
   * Only these users (of those in the room now) may hear us; `[]` lets everyone again. The
   * server enforces it (the others' subscriptions stay, without audio). In a channel only
   * (30101). `size`: how many of `uids` count (default: all; 30003 beyond `uids.length`).
   */
  setAudioSubscribeOnlyBy(uids: Uid[], size?: number): number;
  /** Receive only these users' audio (of those in the room now); `[]` ends the allowlist. In a channel only. */
  setSubscribeAudioAllowlist(uids: Uid[], size?: number): number;
  /**
   * Do not receive these users' audio (of those in the room now); `[]` ends the blocklist. In
   * a channel only. `audioStreamType` 0 (main); 1 (the audio substream, which this SDK lacks):
   * 30004.
   */
  setSubscribeAudioBlocklist(audioStreamType: number, uids: Uid[], size?: number): number;
  /**
   * `uid`'s audio as played here: 0 (silent) to 100 (as received); its volume in
   * onRemoteAudioVolumeIndication follows. For this call (kept if the user leaves and comes
   * back). In a channel only (30101).
   */
  adjustUserPlaybackSignalVolume(uid: Uid, volume: number): number;
  /** All remote users as played here, 0-400 (100 as received), on top of adjustPlaybackSignalVolume; back to 100 when the call ends. */
  adjustChannelPlaybackSignalVolume(volume: number): number;
  /**
   * From the channel we are in to `channelName`, same uid and role: onLeaveChannel(0), then
   * onJoinChannel (the new channel's cid). NERTC allows it to the audience of a live channel
   * only: 30005 for anyone else; 30101 outside a channel; 30100 for the channel we are in.
   */
  switchChannel(token: string | null | undefined, channelName: string): number;
  /** switchChannel with joinChannelWithOptions' options (`permission_key` is the token when `token` is empty; `custom_info` the new userName). */
  switchChannelWithOptions(token: string | null | undefined, channelName: string, channelOptions?: NERtcJoinChannelOptions | null): number;
  /** switchChannelWithOptions; the range-audio fields (team_id, mode, audible_distance) are ignored. */
  switchChannelWithOptionsEx(token: string | null | undefined, channelName: string, channelOptions?: NERtcJoinChannelOptionsEx | null): number;

  /**
   * Our data channel on or off; the others get onUserDataStart / onUserDataStop. The messages
   * go through the room server's SFU over an ordered, reliable SCTP data channel
   * (docs/protocol.md §13.2). In a channel only (30101); an audience member has none (30005).
   */
  enableLocalData(enable: boolean): number;
  /** `uid`'s data messages on or off (all are on when a call starts). In a channel only. */
  subscribeRemoteData(uid: Uid, subscribe: boolean): number;
  /**
   * `data` (ArrayBuffer or typed array, 1-32768 bytes: 30003 otherwise) to the users subscribed
   * to ours, in order: onUserDataReceiveMessage(uid, ArrayBuffer). 30005 before
   * enableLocalData(true); 30901 beyond 100 messages a second.
   */
  sendData(data: ArrayBuffer | ArrayBufferView): number;

  /** [] before initialize. */
  enumerateRecordDevices(): NERtcDevice[];
  enumeratePlayoutDevices(): NERtcDevice[];
  enumerateVideoCaptureDevices(): NERtcDevice[];
  /** 0, 30008 (unknown id), 30003, 30005. */
  setRecordDevice(id: string): number;
  /** '' before initialize. */
  getRecordDevice(): string;
  setPlayoutDevice(id: string): number;
  getPlayoutDevice(): string;
  setVideoDevice(id: string): number;
  getVideoDevice(): string;

  /** Replaces the camera with frames pushed by pushExternalVideoFrame. */
  setExternalVideoSource(enabled: boolean): number;
  /** 0, 30003 (malformed frame), 30005 (external video not enabled, or nothing consuming frames: enable local video or preview). */
  pushExternalVideoFrame(frame: NERtcExternalVideoFrame): number;
  /** Replaces the microphone. `sampleRate` 8000/16000/32000/44100/48000, `channels` 1 or 2. */
  setExternalAudioSource(enabled: boolean, sampleRate: number, channels: number): number;
  /** 0, 30003 (malformed or mismatched format), 30005 (external audio not enabled, or not capturing). */
  pushExternalAudioFrame(frame: NERtcExternalAudioFrame): number;

  // ----- NERTC 5.x methods this SDK does not support yet ---------------------------------
  // Each exists, never throws, logs the call (a warn line the first time) and returns NERTC's
  // "not supported" code 30004, or NERTC's empty result when it returns no code. The list with
  // each method's status: nertc-api/nertc-5x.json.

  /** Not supported: returns 30004. */
  enableLocalSubStreamAudio(enabled: boolean): number;
  /** Not supported: returns 30004. */
  muteLocalSubStreamAudio(enabled: boolean): number;
  /** Not supported: returns 30004. */
  subscribeRemoteSubStreamAudio(uid: number, subscribe: boolean): number;
  /** Not supported: returns 30004. */
  setStreamAlignmentProperty(enable: boolean): number;
  /** Not supported: returns 0. NERTC's value when no offset is known. */
  getNtpTimeOffset(): number;
  /** Not supported: returns 30004. */
  setCameraCaptureConfig(config: NERtcCameraCaptureConfig): number;
  /** Not supported: returns 30004. */
  setCameraCaptureConfigWithType(streamType: NERtcVideoStreamType, config: NERtcCameraCaptureConfig): number;
  /**
   * Dual stream: the camera is then published with a low layer too (a quarter of the pixels,
   * at most 15 fps, a fifth of the bitrate), from its next publication (call it before joining
   * or enabling video). Subscribers choose with subscribeRemoteVideoStream(uid, 1, true); the
   * server falls a subscriber back to it on a poor downlink. Needs a server of protocol 3
   * (this package's); with an older one the camera is published with one layer.
   */
  enableDualStreamMode(enabled: boolean): number;
  /** Draws our screen share; `null` or `{view: null}` unbinds. */
  setupLocalSubStreamVideoCanvas(canvas: NERtcVideoCanvas | null): number;
  /** 0; -1 when no substream canvas is bound for `uid`. */
  setSubStreamRenderMode(uid: 'local' | number | bigint, mode: NERtcVideoScalingMode): number;
  /** Draws `uid`'s screen share; `null` or `{view: null}` unbinds. */
  setupRemoteSubStreamVideoCanvas(uid: Uid, canvas: NERtcVideoCanvas | null): number;
  /** Receive `uid`'s screen share (off until asked). */
  subscribeRemoteVideoSubStream(uid: Uid, sub: boolean): number;
  /** Not supported: returns ''. */
  getParameters(parameters: string, extra_info: string): string;
  /** A 48 kHz mono WAV of what is sent and played (mixed) in the log directory (log_dir_path, else the temp directory). */
  startAudioDump(): number;
  /** NERtcAudioDumpType 0 PCM (`.dump`: raw 16-bit little-endian 48 kHz mono), 1 both, 2 WAV; in the log directory. */
  startAudioDumpWithType(type: number): number;
  stopAudioDump(): number;
  /** Mixes a file into what is sent (send_volume) and played locally (playback_volume); decoded off the JS thread. Failures: onAudioMixingStateChanged(1, code). */
  startAudioMixing(opt: NERtcCreateAudioMixingOption): number;
  /** 30005 when nothing is mixing. */
  stopAudioMixing(): number;
  pauseAudioMixing(): number;
  resumeAudioMixing(): number;
  /** 0-100. */
  setAudioMixingSendVolume(volume: number): number;
  /** The volume, or -30005 when nothing is mixing. */
  getAudioMixingSendVolume(): number;
  /** 0-100. */
  setAudioMixingPlaybackVolume(volume: number): number;
  /** The volume, or -30005 when nothing is mixing. */
  getAudioMixingPlaybackVolume(): number;
  /** ms (0 while the file is being decoded), or -30005 when nothing is mixing. */
  getAudioMixingDuration(): number;
  /** ms, or -30005 when nothing is mixing. */
  getAudioMixingCurrentPosition(): number;
  /** ms. */
  setAudioMixingPosition(pos: number): number;
  /** Semitones, -12..12 (tempo unchanged). */
  setAudioMixingPitch(pitch: number): number;
  /** Semitones, or -30005. */
  getAudioMixingPitch(): number;
  /** Several effects play at once, each with its id; `opt` may also be one option object. */
  playEffect(effectId: number, opt: NERtcCreateAudioEffectOption[] | NERtcCreateAudioEffectOption): number;
  stopEffect(effectId: number): number;
  /** Semitones, -12..12. */
  setEffectPitch(effectId: number, pitch: number): number;
  /** Semitones, or -30005. */
  getEffectPitch(effectId: number): number;
  stopAllEffects(): number;
  pauseEffect(effectId: number): number;
  resumeEffect(effectId: number): number;
  pauseAllEffects(): number;
  /** ms. */
  setEffectPosition(effectId: number, pos: number): number;
  /** ms, or -30005. */
  getEffectCurrentPosition(effectId: number): number;
  /** ms, or -30005. */
  getEffectDuration(effectId: number): number;
  resumeAllEffects(): number;
  /** 0-100. */
  setEffectSendVolume(effectId: number, volume: number): number;
  /** 0-100, or -30005. */
  getEffectSendVolume(effectId: number): number;
  /** 0-100. */
  setEffectPlaybackVolume(effectId: number, volume: number): number;
  /** 0-100, or -30005. */
  getEffectPlaybackVolume(effectId: number): number;
  /** The microphone (after voice effects) in the local speaker; volume 0-100. */
  enableEarback(enabled: boolean, volume: number): number;
  /** 0-100; 30005 while earback is off. */
  setEarbackVolume(volume: number): number;
  /** Not supported: returns 30004. */
  enableAudioVolumeIndicationEx(enabled: boolean, interval: number, enableVad: boolean): number;
  /**
   * Shares `regionRect` (all when empty) of `screenRect` on the substream. X11 on Linux; 30004
   * on macOS/Windows; 30101 outside a channel; 30021 for a rectangle off the screen.
   */
  startScreenCaptureByScreenRect(screenRect: NERtcRectangle, regionRect?: NERtcRectangle | null, param?: NERtcScreenCaptureParameters | null): number;
  /** Shares a display (an id from enumerateScreenCaptureSourceInfo); 30021 for an unknown one. */
  startScreenCaptureByDisplayId(displayId: number, regionRect?: NERtcRectangle | null, param?: NERtcScreenCaptureParameters | null): number;
  /** Shares a window; 30021 for an unknown one; onScreenCaptureStatus(6) when it goes away. */
  startScreenCaptureByWindowId(windowid: number, regionRect?: NERtcRectangle | null, param?: NERtcScreenCaptureParameters | null): number;
  /** Part of the shared source (relative to it; empty: all). 30020 without a running share. */
  updateScreenCaptureRegion(regionRect: NERtcRectangle): number;
  /** 30020 without a running share. */
  setScreenCaptureMouseCursor(capture_cursor: boolean): number;
  /** Stops sharing and unpublishes the substream (0 also when none runs). */
  stopScreenCapture(): number;
  /** No frames while paused (the substream stays published). 30020 without a running share. */
  pauseScreenCapture(): number;
  /** 30020 without a running share. */
  resumeScreenCapture(): number;
  /**
   * SEI data (1-4096 bytes) in the next picture of the main stream (both layers in dual stream
   * mode), as an H.264 SEI NAL unit (user_data_unregistered), and again in the keyframes of the
   * next second, so that a subscriber starting at one gets it too; receivers get onRecvSEIMsg
   * once per message. 30005 while the main stream is not sent, 30003 for empty or larger data,
   * 30901 when 5 messages already wait for pictures.
   */
  sendSEIMsg(data: ArrayBuffer | ArrayBufferView): number;
  /** sendSEIMsg on the main stream (0) or the substream (1, the screen share). */
  sendSEIMsgWithType(data: ArrayBuffer | ArrayBufferView, type: NERtcStreamChannelType): number;
  /** Not supported: returns 30004. */
  uploadSdkInfo(): number;
  /**
   * Composes `info.layout` in the engine and pushes it over RTMP (see NERtcLiveStreamTaskInfo);
   * in a channel only (30005), a malformed task 30003. onAddLiveStreamTask(id, url, 0), then
   * onLiveStreamState 505 / 506. leaveChannel stops every task (511).
   */
  addLiveStreamTask(info: NERtcLiveStreamTaskInfo): number;
  /** A new layout (size, background, users) for a running task from its next picture; the URL,
   * mode and audio settings stay those of the add. onUpdateLiveStreamTask. */
  updateLiveStreamTask(info: NERtcLiveStreamTaskInfo): number;
  /** Stops the task: onRemoveLiveStreamTask(id, 0), then onLiveStreamState(511) once the stream is closed. */
  removeLiveStreamTask(taskId: string): number;
  /** Displays then windows (X11); [] where screen capture is missing. */
  enumerateScreenCaptureSourceInfo(thumbWidth: number, thumbHeight: number, iconWidth: number, iconHeight: number): NERtcScreenCaptureSourceInfo[];
  /** NERtcVoiceChangerType 0-8: pitch, EQ and reverb settings of this SDK's own DSP. */
  setAudioEffectPreset(type: NERtcVoiceChangerType): number;
  /** NERtcVoiceBeautifierType 0-11: EQ and reverb settings of this SDK's own DSP. */
  setVoiceBeautifierPreset(type: NERtcVoiceBeautifierType): number;
  /** A frequency ratio 0.5-2.0 for the microphone (1: off). */
  setLocalVoicePitch(pitch: number): number;
  /** Band 0-9 (31 Hz-16 kHz, peaking filters an octave wide), gain -15..15 dB. */
  setLocalVoiceEqualization(bandFrequency: NERtcVoiceEqualizationBand, bandGain: number): number;
  /** Not supported: returns 30004. */
  enableLoopbackRecording(enable: boolean, deviceName: string): number;
  /** Not supported: returns 30004. */
  adjustLoopbackRecordingSignalVolume(volume: number): number;
  /** Not supported: returns 30004. */
  setLocalMediaPriority(priority: NERtcMediaPriorityType, preemptive: boolean): number;
  /** Windows painted black in a shared display or rectangle. 30020 without a running share. */
  setExcludeWindowList(param: NERtcScreenCaptureWindowParam): number;
  /** As setExcludeWindowList. */
  updateScreenCaptureParameters(param: NERtcScreenCaptureWindowParam): number;
  /** .wav or .aac (quality: AAC's 32/64/96 kb/s); sent and played audio mixed; onAudioRecording(3) then (5). */
  startAudioRecording(filePath: string, sampleRate: number, quality: NERtcAudioRecordingQuality): number;
  /** .wav or .aac (mono AAC-LC, ADTS); position 0 mixed, 1 sent, 2 played; onAudioRecording(3) then (5). */
  startAudioRecordingWithConfig(config: NERtcAudioRecordingConfiguration): number;
  stopAudioRecording(): number;
  /** Not supported: returns 30004. */
  startChannelMediaRelay(config: NERtcChannelMediaRelayConfiguration): number;
  /** Not supported: returns 30004. */
  updateChannelMediaRelay(config: NERtcChannelMediaRelayConfiguration): number;
  /** Not supported: returns 30004. */
  stopChannelMediaRelay(): number;
  /**
   * 0 disabled (default), 2 audio only: while the uplink estimate cannot carry the least video
   * next to the audio (under 111 kbps for 2 s) the camera's video stops and
   * onLocalPublishFallbackToAudioOnly(true, 0) fires; it is tried again after 5 s (then 10,
   * 20, 40 s while tries fail): onLocalPublishFallbackToAudioOnly(false, 0). With 0 the video's
   * bitrate, then frame rate / size, go down and it is never stopped. Other values: 30003.
   */
  setLocalPublishFallbackOption(option: number): number;
  /**
   * 0 disabled, 1 (default) the publisher's low stream while this client's downlink cannot
   * carry the high one (judged by the server from this client's loss reports; tried again
   * after 10 s clean, then 20, 40, 80 s), 2 as 1, then audio only while the downlink cannot
   * carry the low stream either (or the only stream of a publisher without a low one):
   * onRemoteSubscribeFallbackToAudioOnly(uid, true, 0), and (uid, false, 0) when the video
   * resumes (tried again after 5 s, then 10, 20, 40, 80 s). Applies to subscriptions made
   * after it.
   */
  setRemoteSubscribeFallbackOption(option: number): number;
  /** Not supported: returns 30004. */
  enableSuperResolution(enable: boolean): number;
  /**
   * Media encryption end to end: from the next joinChannel on, this client's encoded audio and
   * video are encrypted before they leave it and decrypted after they arrive, so the server
   * forwards only ciphertext. NERTC's rules: call it before joining (30005 in a channel);
   * every member must use the same mode and key; leaving turns it off (call it again before
   * the next join). Mode 0 only, SM4 with a 128-bit key derived from `key` (HKDF-SHA256), run
   * in GCM so that each frame is authenticated (NERTC names the mode SM4-ECB; this SDK does not
   * speak NERTC's wire format anyway); the H.264 NAL unit headers and each slice's first byte
   * stay readable for the server. Mode 1 (custom, a native packet observer): 30004; another
   * mode or an empty key: 30003. `enable` false turns it off (config may then be omitted).
   * Media from a member whose key or mode differs, or that does not encrypt while this client
   * does (and the other way round), is dropped, never drawn or played, and reported once per
   * stream: onError(30113 kNERtcErrEncryptNotSuitable).
   */
  enableEncryption(enable: boolean, config?: NERtcEncryptionConfig): number;
  /** Not supported: returns 30004. */
  startLastmileProbeTest(config: any): number;
  /** Not supported: returns 30004. */
  stopLastmileProbeTest(): number;
  /** Not supported: returns 30004. */
  setRemoteHighPriorityAudioStream(enable: boolean, uid: number): number;
  /** Not supported: returns 0. NERTC's value for 'driver not installed'. */
  checkNECastAudioDriver(): number;
  /** Not supported: returns 30004. */
  enableVirtualBackground(enable: boolean, backgroundSource: VirtualBackgroundSource): number;
  /** Not supported: returns 30004. */
  setCloudProxy(type: number): number;
  /** Not supported: returns 30004. */
  startBeauty(file_path: string): number;
  /** Not supported: returns 30004. */
  stopBeauty(): number;
  /** Not supported: returns 30004. */
  enableBeauty(enable: boolean): number;
  /** Not supported: returns 30004. */
  getBeautyEffect(type: number): number;
  /** Not supported: returns 30004. */
  setBeautyEffect(type: number, level: number): number;
  /** Not supported: returns 30004. */
  addBeautyFilter(file_path: string): number;
  /** Not supported: returns 30004. */
  removeBeautyFilter(): number;
  /** Not supported: returns 30004. */
  setBeautyFilterLevel(level: number): number;
  /** Not supported: returns 30004. */
  addBeautySticker(file_path: string): number;
  /** Not supported: returns 30004. */
  removeBeautySticker(): number;
  /** Not supported: returns 30004. */
  addBeautyMakeup(file_path: string): number;
  /** Not supported: returns 30004. */
  removeBeautyMakeup(): number;
  /** A reverb on the microphone (comb and all-pass filters). */
  setLocalVoiceReverbParam(param: NERtcReverbParam): number;
  /** Not supported: returns 30004. */
  enableMediaPub(enabled: boolean, mediaType: number): number;
  /**
   * A new token (NERTC's permission key: our tokens carry the permissions) for the session in
   * the channel. The server checks it (app, channel, uid, signature, expiry) and applies its
   * permissions; a rejoin after the resume window uses it. Result: onUpdatePermissionKey(key,
   * code, time); 30101 outside a channel, 30003 for an empty key.
   */
  updatePermissionKey(key: string): number;
  /** Not supported: returns 30004. */
  setRangeAudioMode(mode: number): number;
  /** Not supported: returns 30004. */
  setRangeAudioTeamID(team_id: number): number;
  /** Not supported: returns 30004. */
  setAudioRecvRange(audible_distance: number, conversational_distance: number, roll_off: number): number;
  /** Not supported: returns 30004. */
  updateSelfPosition(info: any): number;
  /** Not supported: returns 30004. */
  enableSpatializerRoomEffects(enable: boolean): number;
  /** Not supported: returns 30004. */
  setSpatializerRoomProperty(config: any): number;
  /** Not supported: returns 30004. */
  setSpatializerRenderMode(mode: number): number;
  /** Not supported: returns 30004. */
  initSpatializer(): number;
  /** Not supported: returns 30004. */
  enableSpatializer(enable: boolean, apply_to_team: boolean): number;
  /** Not supported: returns 30004. */
  setLocalVideoWatermarkConfigs(enbale: boolean, type: number, config: any): number;

  /**
   * Hook for the DOM renderer (WebGL / 2D canvas) used for HTMLElement views: set by the
   * Electron renderer build. Unset in Node, where views must have `drawFrame`.
   */
  static createDomRenderer:
    | ((view: HTMLElementLike, options: { mode: number; mirror: boolean; uid: Uid | null }) => NERtcFrameSink | null)
    | null;
}

// -------------------------------------------------------------------------------------------
// NERtcServer

export interface NERtcAppConfig {
  secret: string;
  /** Debug apps accept a null or empty token. */
  debug?: boolean;
}

/** The room server's config (same keys as its TOML file). */
export interface NERtcServerOptions {
  /** Listen address; default `127.0.0.1:0` (a free loopback port). */
  listen?: string;
  /** `app_key → {secret, debug}`. Without apps, every app key is accepted in debug mode. */
  apps?: Record<string, NERtcAppConfig>;
  /** Accept app keys that are not in `apps`, as debug apps. Default: true only when `apps` is empty. */
  allow_unknown_apps?: boolean;
  rtc?: {
    /** Address media sockets bind to (default 127.0.0.1). */
    bind_ip?: string;
    /** IP written into ICE candidates instead of the bound one. */
    advertised_ip?: string;
    udp_port_min?: number;
    udp_port_max?: number;
    /** One UDP port for every peer connection (not with `udp_port_min`/`udp_port_max`); 0 = off. */
    udp_port?: number;
  };
  timeouts?: { join_ms?: number; ping_interval_ms?: number; ping_timeout_ms?: number; resume_window_ms?: number };
  limits?: { max_frame_bytes?: number; max_frames_per_sec?: number; outbound_queue?: number; replay_events?: number };
}

/** The embedded room server (signaling, SFU, token auth) running in this process. */
/** The events a NERtcChannel emits (`CHANNEL_EVENT_NAMES`): the channel's own, with NERtcEngine's arguments. */
export type NERtcChannelEvents = Pick<NERtcEvents, (typeof CHANNEL_EVENT_NAMES)[number] & keyof NERtcEvents>;
export declare const CHANNEL_EVENT_NAMES: readonly [
  'onError', 'onWarning', 'onJoinChannel', 'onReconnectingStart', 'onConnectionStateChange', 'onRejoinChannel',
  'onLeaveChannel', 'onDisconnect', 'onClientRoleChanged', 'onUserJoined', 'onUserLeft', 'onUserAudioStart',
  'onUserAudioStop', 'onUserAudioMute', 'onUserVideoStart', 'onUserVideoStop', 'onUserVideoMute',
  'onUserSubStreamVideoStart', 'onUserSubStreamVideoStop', 'onScreenCaptureStatus', 'onFirstAudioDataReceived',
  'onFirstVideoDataReceived', 'onFirstAudioFrameDecoded', 'onFirstVideoFrameDecoded',
  'onLocalAudioVolumeIndication', 'onRemoteAudioVolumeIndication', 'onRecvSEIMsg', 'onPermissionKeyWillExpire',
  'onUpdatePermissionKey',
];

/**
 * NERTC's NERtcChannel, made by `NERtcEngine.createChannel(name)`: a second channel. It is a
 * session of its own (its own server connection, capture, decoders and canvases) on the
 * engine's app key and server; the engine's own channel neither sees its events nor is
 * affected by it. Its methods are NERtcEngine's with the channel name filled in (same
 * arguments, codes and behaviour). It shares the engine's camera, microphone and speaker (one
 * device opened for both; each session gets frames at its own size and rate, and its own
 * volume and mute). After
 * release() (or the engine's), every method returns 30005 like a released engine's.
 */
export declare class NERtcChannel extends EventEmitter {
  private constructor();

  on<K extends keyof NERtcChannelEvents>(event: K, listener: NERtcChannelEvents[K]): this;
  once<K extends keyof NERtcChannelEvents>(event: K, listener: NERtcChannelEvents[K]): this;
  off<K extends keyof NERtcChannelEvents>(event: K, listener: NERtcChannelEvents[K]): this;

  /** Leaves the channel (onLeaveChannel still fires) and frees the session; safe in any state, twice. Returns 0. */
  release(): number;
  getChannelName(): string;
  /** Joins with a random uid (1..2^31-1; NERTC's server would assign one), reported by onJoinChannel. */
  joinChannel(token: string | null | undefined): number;
  /** NERtcEngine.joinChannel in this channel. */
  joinChannelWithUid(token: string | null | undefined, uid: Uid): number;
  /** NERtcEngine.joinChannelWithOptions in this channel. */
  joinChannelWithOptions(token: string | null | undefined, uid: Uid, channelOptions?: NERtcJoinChannelOptions | null): number;

  // NERtcEngine's methods, on this channel's session.
  leaveChannel: NERtcEngine['leaveChannel'];
  enableLocalAudio: NERtcEngine['enableLocalAudio'];
  muteLocalAudioStream: NERtcEngine['muteLocalAudioStream'];
  enableLocalVideo: NERtcEngine['enableLocalVideo'];
  enableLocalVideoWithType: NERtcEngine['enableLocalVideoWithType'];
  muteLocalVideoStream: NERtcEngine['muteLocalVideoStream'];
  muteLocalVideoStreamWithType: NERtcEngine['muteLocalVideoStreamWithType'];
  enableAudioVolumeIndication: NERtcEngine['enableAudioVolumeIndication'];
  startScreenCaptureByScreenRect: NERtcEngine['startScreenCaptureByScreenRect'];
  startScreenCaptureByDisplayId: NERtcEngine['startScreenCaptureByDisplayId'];
  startScreenCaptureByWindowId: NERtcEngine['startScreenCaptureByWindowId'];
  updateScreenCaptureRegion: NERtcEngine['updateScreenCaptureRegion'];
  setScreenCaptureMouseCursor: NERtcEngine['setScreenCaptureMouseCursor'];
  stopScreenCapture: NERtcEngine['stopScreenCapture'];
  pauseScreenCapture: NERtcEngine['pauseScreenCapture'];
  resumeScreenCapture: NERtcEngine['resumeScreenCapture'];
  setExcludeWindowList: NERtcEngine['setExcludeWindowList'];
  updateScreenCaptureParameters: NERtcEngine['updateScreenCaptureParameters'];
  setupLocalVideoCanvas: NERtcEngine['setupLocalVideoCanvas'];
  setupLocalSubStreamVideoCanvas: NERtcEngine['setupLocalSubStreamVideoCanvas'];
  setRenderMode: NERtcEngine['setRenderMode'];
  setSubStreamRenderMode: NERtcEngine['setSubStreamRenderMode'];
  setLocalVideoMirrorMode: NERtcEngine['setLocalVideoMirrorMode'];
  setLocalVideoMirrorModeWithType: NERtcEngine['setLocalVideoMirrorModeWithType'];
  setupRemoteVideoCanvas: NERtcEngine['setupRemoteVideoCanvas'];
  setupRemoteSubStreamVideoCanvas: NERtcEngine['setupRemoteSubStreamVideoCanvas'];
  setClientRole: NERtcEngine['setClientRole'];
  getConnectionState: NERtcEngine['getConnectionState'];
  setVideoConfig: NERtcEngine['setVideoConfig'];
  setVideoConfigWithType: NERtcEngine['setVideoConfigWithType'];
  subscribeRemoteAudioStream: NERtcEngine['subscribeRemoteAudioStream'];
  subscribeAllRemoteAudioStream: NERtcEngine['subscribeAllRemoteAudioStream'];
  setAudioSubscribeOnlyBy: NERtcEngine['setAudioSubscribeOnlyBy'];
  subscribeRemoteVideoStream: NERtcEngine['subscribeRemoteVideoStream'];
  subscribeRemoteVideoSubStream: NERtcEngine['subscribeRemoteVideoSubStream'];
  sendSEIMsg: NERtcEngine['sendSEIMsg'];
  sendSEIMsgWithType: NERtcEngine['sendSEIMsgWithType'];
  captureImageByUid: NERtcEngine['captureImageByUid'];
  adjustUserPlaybackSignalVolume: NERtcEngine['adjustUserPlaybackSignalVolume'];
  adjustChannelPlaybackSignalVolume: NERtcEngine['adjustChannelPlaybackSignalVolume'];
  updatePermissionKey: NERtcEngine['updatePermissionKey'];
  setSubscribeAudioAllowlist: NERtcEngine['setSubscribeAudioAllowlist'];
  setSubscribeAudioBlocklist: NERtcEngine['setSubscribeAudioBlocklist'];

  // ----- NERtcChannel methods this SDK does not support: each logs and returns 30004 -----
  /** Not supported: returns 30004. */
  enableLocalSubStreamAudio(enabled: boolean): number;
  /** Not supported: returns 30004. */
  muteLocalSubStreamAudio(mute: boolean): number;
  /** Not supported: returns 30004. */
  setLocalMediaPriority(priority: number, preemptive: boolean): number;
  /** Not supported: returns 30004. */
  setCameraCaptureConfig(config: object): number;
  /** Not supported: returns 30004. */
  setCameraCaptureConfigWithType(type: number, config: object): number;
  /** Not supported: returns 30004. */
  enableDualStreamMode(enabled: boolean): number;
  /** Not supported: returns 30004. */
  subscribeRemoteSubStreamAudio(uid: Uid, subscribe: boolean): number;
  /** Not supported: returns 30004. */
  addLiveStreamTask(info: object): number;
  /** Not supported: returns 30004. */
  updateLiveStreamTask(info: object): number;
  /** Not supported: returns 30004. */
  removeLiveStreamTask(taskId: string): number;
  /** Not supported: returns 30004. */
  startChannelMediaRelay(config: object): number;
  /** Not supported: returns 30004. */
  updateChannelMediaRelay(config: object): number;
  /** Not supported: returns 30004. */
  stopChannelMediaRelay(): number;
  /** Not supported: returns 30004. */
  setLocalPublishFallbackOption(option: number): number;
  /** Not supported: returns 30004. */
  setRemoteSubscribeFallbackOption(option: number): number;
  /** Not supported: returns 30004. */
  setRemoteHighPriorityAudioStream(enabled: boolean, uid: Uid): number;
  /** Not supported: returns 30004. */
  enableMediaPub(enabled: boolean, type: number): number;
  /** Not supported: returns 30004. */
  setRangeAudioMode(mode: number): number;
  /** Not supported: returns 30004. */
  setRangeAudioTeamID(teamId: number): number;
  /** Not supported: returns 30004. */
  setAudioRecvRange(audibleDistance: number, conversationalDistance: number, rollOff: number): number;
  /** Not supported: returns 30004. */
  updateSelfPosition(info: object): number;
  /** Not supported: returns 30004. */
  enableSpatializerRoomEffects(enable: boolean): number;
  /** Not supported: returns 30004. */
  setSpatializerRoomProperty(config: object): number;
  /** Not supported: returns 30004. */
  setSpatializerRenderMode(mode: number): number;
  /** Not supported: returns 30004. */
  initSpatializer(): number;
  /** Not supported: returns 30004. */
  enableSpatializer(enable: boolean, applyToTeam: boolean): number;
}

export declare class NERtcServer {
  /** Throws on unknown or malformed options. */
  constructor(options?: NERtcServerOptions);
  /** Resolves with the URL for `server_config.channel_server`, e.g. `ws://127.0.0.1:40123`. */
  start(): Promise<string>;
  /** Tells every session the server is shutting down and stops listening. Safe to call twice. */
  stop(): Promise<void>;
  /** The URL while running, else null. */
  readonly url: string | null;
  /** Same as the module's `createToken`. */
  static createToken(appKey: string, secret: string, channel: string, uid: Uid, ttlSecs?: number): string;
}

/** A join token (HS256 JWT) for `uid` in `channel`, signed with the app's secret, valid `ttlSecs` (default 3600). Throws TypeError on bad input. */
export declare function createToken(appKey: string, secret: string, channel: string, uid: Uid, ttlSecs?: number): string;

/** `[code, description]` for every code the SDK returns. */
export declare function errorCodes(): Array<[number, string]>;

/** Every NERTC event name: those this SDK emits (`eventNames()`) plus `JS_ONLY_EVENT_NAMES`. */
export declare const EVENT_NAMES: ReadonlyArray<string>;

/** NERTC events this SDK does not emit yet (device state, local audio stats); listeners are never called. */
export declare const JS_ONLY_EVENT_NAMES: ReadonlyArray<string>;

/** The name of every event the native engine can emit (one per engine event type). */
export declare function eventNames(): string[];

declare const _default: {
  NERtcLogLevel: typeof NERtcLogLevel;
  NERtcRangeAudioMode: typeof NERtcRangeAudioMode;
  NERtcChannelProfileType: typeof NERtcChannelProfileType;
  NERtcRemoteVideoStreamType: typeof NERtcRemoteVideoStreamType;
  NERtcErrorCode: typeof NERtcErrorCode;
  NERtcSessionLeaveReason: typeof NERtcSessionLeaveReason;
  NERtcVideoProfileType: typeof NERtcVideoProfileType;
  NERtcVideoScalingMode: typeof NERtcVideoScalingMode;
  NERtcVideoMirrorMode: typeof NERtcVideoMirrorMode;
  NERtcVideoOutputOrientationMode: typeof NERtcVideoOutputOrientationMode;
  NERtcRawAudioFrameOpModeType: typeof NERtcRawAudioFrameOpModeType;
  NERtcAudioProfileType: typeof NERtcAudioProfileType;
  NERtcAudioScenarioType: typeof NERtcAudioScenarioType;
  NERtcVideoCropMode: typeof NERtcVideoCropMode;
  NERtcVideoFramerateType: typeof NERtcVideoFramerateType;
  NERtcDegradationPreference: typeof NERtcDegradationPreference;
  NERtcAudioStreamType: typeof NERtcAudioStreamType;
  NERtcDistanceRolloffModel: typeof NERtcDistanceRolloffModel;
  NERtcScreenProfileType: typeof NERtcScreenProfileType;
  NERtcSubStreamContentPrefer: typeof NERtcSubStreamContentPrefer;
  NERtcMediaPriorityType: typeof NERtcMediaPriorityType;
  NERtcAudioRecordingQuality: typeof NERtcAudioRecordingQuality;
  NERtcEncryptionMode: typeof NERtcEncryptionMode;
  NERtcLiveStreamMode: typeof NERtcLiveStreamMode;
  NERtcLiveStreamVideoScaleMode: typeof NERtcLiveStreamVideoScaleMode;
  NERtcLiveStreamAudioSampleRate: typeof NERtcLiveStreamAudioSampleRate;
  NERtcLiveStreamAudioCodecProfile: typeof NERtcLiveStreamAudioCodecProfile;
  NERtcAudioDeviceTransportType: typeof NERtcAudioDeviceTransportType;
  NERtcVideoDeviceTransportType: typeof NERtcVideoDeviceTransportType;
  NERtcClientRole: typeof NERtcClientRole;
  NERtcStreamChannelType: typeof NERtcStreamChannelType;
  NERtcVideoStreamType: typeof NERtcVideoStreamType;
  NERtcNetworkQualityType: typeof NERtcNetworkQualityType;
  NERtcConnectionStateType: typeof NERtcConnectionStateType;
  NERtcReasonConnectionChangedType: typeof NERtcReasonConnectionChangedType;
  NERtcAudioDeviceType: typeof NERtcAudioDeviceType;
  NERtcAudioDeviceState: typeof NERtcAudioDeviceState;
  NERtcAudioMixingState: typeof NERtcAudioMixingState;
  NERtcAudioMixingErrorCode: typeof NERtcAudioMixingErrorCode;
  NERtcLiveStreamStateCode: typeof NERtcLiveStreamStateCode;
  NERtcMediaStatsEventName: typeof NERtcMediaStatsEventName;
  NERtcVoiceChangerType: typeof NERtcVoiceChangerType;
  NERtcVoiceBeautifierType: typeof NERtcVoiceBeautifierType;
  NERtcVoiceEqualizationBand: typeof NERtcVoiceEqualizationBand;
  NERtcSpatializerRoomCapacity: typeof NERtcSpatializerRoomCapacity;
  NERtcSpatializerMaterialName: typeof NERtcSpatializerMaterialName;
  NERtcSpatializerRenderMode: typeof NERtcSpatializerRenderMode;
  NERtcAudioRecordingPosition: typeof NERtcAudioRecordingPosition;
  NERtcAudioRecordingCycleTime: typeof NERtcAudioRecordingCycleTime;
  NERtcBackgroundSourceType: typeof NERtcBackgroundSourceType;
  NERtcFeatureType: typeof NERtcFeatureType;
  NERtcScreenCaptureStatus: typeof NERtcScreenCaptureStatus;
  NERtcScreenCaptureCustomHLBorderAction: typeof NERtcScreenCaptureCustomHLBorderAction;
  NERtcEngine: typeof NERtcEngine;
  NERtcChannel: typeof NERtcChannel;
  CHANNEL_EVENT_NAMES: typeof CHANNEL_EVENT_NAMES;
  EVENT_NAMES: typeof EVENT_NAMES;
  JS_ONLY_EVENT_NAMES: typeof JS_ONLY_EVENT_NAMES;
  NERtcServer: typeof NERtcServer;
  ErrorCode: typeof ErrorCode;
  OWN_CODE_RANGE: typeof OWN_CODE_RANGE;
  ConnectionState: typeof ConnectionState;
  ConnectionChangeReason: typeof ConnectionChangeReason;
  UserLeftReason: typeof UserLeftReason;
  ChannelProfile: typeof ChannelProfile;
  ClientRole: typeof ClientRole;
  VideoScalingMode: typeof VideoScalingMode;
  VideoMirrorMode: typeof VideoMirrorMode;
  RemoteVideoStreamType: typeof RemoteVideoStreamType;
  VideoProfile: typeof VideoProfile;
  VideoPixelFormat: typeof VideoPixelFormat;
  createToken: typeof createToken;
  errorCodes: typeof errorCodes;
  eventNames: typeof eventNames;
};
export default _default;
