// `require('nertc-electron-sdk/server-bin')`: where this install's nertc-server binary is.

/**
 * The path of a runnable `nertc-server` (NERTC_SERVER_BIN, a local build, else the prebuilt
 * platform package; mapped to app.asar.unpacked inside Electron). Throws, naming the platform,
 * when there is none.
 */
export declare function nertcServerPath(): string;

/** Every place looked at, best first (`file` null for a platform package that is not installed). */
export declare function serverCandidates(): Array<{ file: string | null; from: string }>;
