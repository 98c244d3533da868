//! NERTC's voice changer (`setAudioEffectPreset`) and beautifier (`setVoiceBeautifierPreset`)
//! presets as settings of our own DSP (pitch ratio, 10-band EQ in dB, reverb). The values are
//! our own choice: NERTC does not publish its parameters.

use super::dsp::ReverbParam;

/// (pitch ratio, EQ gains for bands 31 Hz..16 kHz, reverb).
pub type Preset = (f32, [i32; 10], ReverbParam);

const FLAT: [i32; 10] = [0; 10];

fn room(wet: f32, room_size: f32, decay: f32, damping: f32, pre_delay: f32) -> ReverbParam {
    ReverbParam { wet_gain: wet, dry_gain: 1.0, damping, room_size, decay_time: decay, pre_delay }
}

/// `NERtcVoiceChangerType` 0..=8.
pub fn voice_changer(t: i32) -> Option<Preset> {
    let dry = ReverbParam::default();
    Some(match t {
        0 => (1.0, FLAT, dry),
        // Robot: a short metallic room, mids up.
        1 => (1.0, [0, 0, -3, 0, 3, 6, 6, 0, -6, -6], room(0.6, 0.08, 0.4, 0.05, 0.0)),
        // Giant: lower and boomy.
        2 => (0.7, [6, 6, 4, 2, 0, 0, 0, -2, -4, -4], room(0.3, 0.6, 1.2, 0.4, 0.02)),
        // Horror: lower, long dark tail.
        3 => (0.8, [3, 3, 0, 0, 0, -3, -3, -6, -6, -6], room(0.6, 0.9, 3.0, 0.7, 0.05)),
        // Mature: slightly lower, warmer.
        4 => (0.92, [3, 3, 3, 2, 0, 0, 0, 0, 0, 0], dry),
        5 => (1.4, [-3, -3, -3, 0, 0, 0, 2, 3, 3, 0], dry),
        6 => (0.75, [3, 3, 3, 2, 0, 0, -2, -3, -3, 0], dry),
        7 => (1.6, [-6, -6, -3, 0, 0, 0, 3, 3, 3, 0], dry),
        8 => (1.25, [-3, -3, 0, 0, 0, 0, 2, 3, 3, 0], dry),
        _ => return None,
    })
}

/// `NERtcVoiceBeautifierType` 0..=11.
pub fn beautifier(t: i32) -> Option<Preset> {
    let dry = ReverbParam::default();
    Some(match t {
        0 => (1.0, FLAT, dry),
        // Muffled: highs cut.
        1 => (1.0, [0, 0, 0, 0, 0, -3, -6, -9, -12, -12], dry),
        // Mellow: warm lows, soft highs.
        2 => (1.0, [0, 2, 3, 2, 0, 0, -2, -3, -3, -3], dry),
        // Clear: presence up, mud down.
        3 => (1.0, [-3, -3, -2, -2, 0, 0, 3, 4, 3, 0], dry),
        // Magnetic: chest resonance.
        4 => (1.0, [3, 4, 4, 2, 0, 0, 0, 1, 0, 0], dry),
        // Recording studio: a small treated room.
        5 => (1.0, [0, 0, 0, 0, 0, 0, 2, 2, 1, 0], room(0.2, 0.3, 0.6, 0.5, 0.01)),
        // Nature: airy, a light open space.
        6 => (1.0, [0, 0, 0, 0, 0, 0, 0, 2, 3, 3], room(0.15, 0.5, 0.8, 0.3, 0.02)),
        // KTV: a wet hall.
        7 => (1.0, [0, 0, 2, 0, 0, 0, 2, 2, 0, 0], room(0.4, 0.7, 1.8, 0.4, 0.03)),
        // Remote: telephone band.
        8 => (1.0, [-12, -12, -9, -3, 3, 6, 3, -6, -12, -12], dry),
        9 => (1.0, FLAT, room(0.5, 1.0, 4.0, 0.3, 0.05)),
        10 => (1.0, FLAT, room(0.15, 0.15, 0.4, 0.6, 0.0)),
        11 => (1.0, [0, 0, 0, 0, 0, 0, 2, 2, 0, 0], room(0.3, 0.6, 1.2, 0.4, 0.02)),
        _ => return None,
    })
}
