//! Camera frames to the encoder's I420: the formats cameras deliver (MJPEG, YUYV 4:2:2, NV12,
//! I420) are converted, then center-cropped to the wanted aspect ratio and scaled to the wanted
//! size (`fast_image_resize`, bilinear, per plane). MJPEG is decoded by `zune-jpeg` straight to
//! YCbCr (no RGB round trip) and moved from JPEG's full range to video's limited range.
//!
//! The camera's picture is cropped around its center to the asked size's aspect ratio, never
//! stretched; NERTC's `crop_mode` and `orientation_mode` are applied after, to every source
//! alike, by the encoder thread ([`crate::frame::crop_rect`]).

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::frame::VideoFrame;

/// A camera's pixel format, as delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawFormat {
    /// One JPEG picture per frame.
    Mjpeg,
    /// Packed 4:2:2: Y0 U Y1 V per pixel pair.
    Yuyv,
    /// Y plane, then one interleaved U V plane at half size.
    Nv12,
    /// Y, U, V planes (U and V at half size).
    I420,
}

/// Why a frame could not be converted (it is dropped, and logged by the caller).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvertError {
    #[error("{format:?} frame of {got} bytes, {width}x{height} needs {need}")]
    Size { format: RawFormat, width: u32, height: u32, got: usize, need: usize },
    #[error("bad JPEG: {0}")]
    Jpeg(String),
    #[error("zero-sized frame")]
    Empty,
}

/// One frame as the camera delivered it.
#[derive(Debug, Clone, Copy)]
pub struct RawFrame<'a> {
    pub format: RawFormat,
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
}

/// Converts camera frames to I420 of one size; keeps its scaler between frames.
pub struct Converter {
    resizer: Resizer,
}

impl Default for Converter {
    fn default() -> Self {
        Converter::new()
    }
}

impl Converter {
    pub fn new() -> Self {
        Converter { resizer: Resizer::new() }
    }

    /// `raw` as I420 of `out_w` x `out_h`: converted, center-cropped to the output's aspect
    /// ratio, scaled.
    pub fn convert(&mut self, raw: RawFrame<'_>, out_w: u32, out_h: u32, timestamp_us: u64) -> Result<VideoFrame, ConvertError> {
        if raw.width == 0 || raw.height == 0 || out_w == 0 || out_h == 0 {
            return Err(ConvertError::Empty);
        }
        let mut frame = to_i420(raw.format, raw.data, raw.width, raw.height)?;
        frame.timestamp_us = timestamp_us;
        if (frame.width, frame.height) == (out_w, out_h) {
            return Ok(frame);
        }
        Ok(self.crop_scale(&frame, out_w, out_h))
    }

    /// `src` center-cropped to `out_w`:`out_h` and scaled to that size.
    pub fn crop_scale(&mut self, src: &VideoFrame, out_w: u32, out_h: u32) -> VideoFrame {
        let (sw, sh) = (f64::from(src.width), f64::from(src.height));
        let (cw, ch) = if sw * f64::from(out_h) > sh * f64::from(out_w) {
            (sh * f64::from(out_w) / f64::from(out_h), sh)
        } else {
            (sw, sw * f64::from(out_h) / f64::from(out_w))
        };
        let (cx, cy) = ((sw - cw) / 2.0, (sh - ch) / 2.0);
        let (scw, sch) = VideoFrame::chroma_size(src.width, src.height);
        let (ocw, och) = VideoFrame::chroma_size(out_w, out_h);
        let mut out = VideoFrame::black(out_w, out_h);
        out.timestamp_us = src.timestamp_us;
        self.plane(&src.y, src.width, src.height, (cx, cy, cw, ch), &mut out.y, out_w, out_h);
        let half = (cx / 2.0, cy / 2.0, cw / 2.0, ch / 2.0);
        self.plane(&src.u, scw, sch, half, &mut out.u, ocw, och);
        self.plane(&src.v, scw, sch, half, &mut out.v, ocw, och);
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn plane(&mut self, src: &[u8], sw: u32, sh: u32, crop: (f64, f64, f64, f64), dst: &mut [u8], dw: u32, dh: u32) {
        let (Ok(src_img), Ok(mut dst_img)) = (ImageRef::new(sw, sh, src, PixelType::U8), Image::from_slice_u8(dw, dh, dst, PixelType::U8))
        else {
            // The planes are sized from the frame's own dimensions: unreachable, but a bad
            // frame must not take the capture thread down.
            tracing::warn!("camera frame planes do not match their size; frame left black");
            return;
        };
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)).crop(crop.0, crop.1, crop.2, crop.3);
        if let Err(e) = self.resizer.resize(&src_img, &mut dst_img, &options) {
            tracing::warn!("camera frame scaling failed: {e}");
        }
    }
}

/// `data` as an I420 frame of the same size (odd sizes: chroma rounds up).
pub fn to_i420(format: RawFormat, data: &[u8], width: u32, height: u32) -> Result<VideoFrame, ConvertError> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let need = |n: usize| {
        if data.len() < n { Err(ConvertError::Size { format, width, height, got: data.len(), need: n }) } else { Ok(()) }
    };
    let mut f = VideoFrame::black(width, height);
    match format {
        RawFormat::I420 => {
            need(w * h + 2 * cw * ch)?;
            f.y.copy_from_slice(&data[..w * h]);
            f.u.copy_from_slice(&data[w * h..w * h + cw * ch]);
            f.v.copy_from_slice(&data[w * h + cw * ch..w * h + 2 * cw * ch]);
        }
        RawFormat::Nv12 => {
            need(w * h + 2 * cw * ch)?;
            f.y.copy_from_slice(&data[..w * h]);
            for (i, uv) in data[w * h..w * h + 2 * cw * ch].chunks_exact(2).enumerate() {
                f.u[i] = uv[0];
                f.v[i] = uv[1];
            }
        }
        RawFormat::Yuyv => {
            // Rows are 2 bytes a pixel, pixel pairs share U and V; a lone last column (odd
            // width) does not exist in YUYV, so the width is even here.
            let stride = cw * 4;
            need(stride * h)?;
            for row in 0..h {
                let line = &data[row * stride..(row + 1) * stride];
                for (pair, px) in line.chunks_exact(4).enumerate() {
                    f.y[row * w + 2 * pair] = px[0];
                    if 2 * pair + 1 < w {
                        f.y[row * w + 2 * pair + 1] = px[2];
                    }
                }
            }
            // Chroma: the average of the two rows each 4:2:0 sample covers.
            for crow in 0..ch {
                let (r0, r1) = (2 * crow, (2 * crow + 1).min(h - 1));
                for pair in 0..cw {
                    let a = &data[r0 * stride + pair * 4..r0 * stride + pair * 4 + 4];
                    let b = &data[r1 * stride + pair * 4..r1 * stride + pair * 4 + 4];
                    f.u[crow * cw + pair] = avg2(a[1], b[1]);
                    f.v[crow * cw + pair] = avg2(a[3], b[3]);
                }
            }
        }
        RawFormat::Mjpeg => {
            // The JPEG header's size is the truth: a camera may send another than negotiated.
            let (ycc, jw, jh) = decode_jpeg(data)?;
            return to_i420_ycc(&ycc, jw, jh);
        }
    }
    Ok(f)
}

fn avg2(a: u8, b: u8) -> u8 {
    (u16::from(a) + u16::from(b)).div_ceil(2) as u8
}

/// Decodes a JPEG to interleaved 4:4:4 YCbCr.
fn decode_jpeg(data: &[u8]) -> Result<(Vec<u8>, usize, usize), ConvertError> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::YCbCr).set_max_width(8192).set_max_height(8192);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(data, options);
    let pixels = decoder.decode().map_err(|e| ConvertError::Jpeg(format!("{e:?}")))?;
    let info = decoder.info().ok_or_else(|| ConvertError::Jpeg("no picture information".into()))?;
    let (w, h) = (usize::from(info.width), usize::from(info.height));
    match decoder.get_output_colorspace() {
        Some(ColorSpace::YCbCr) if pixels.len() >= w * h * 3 => Ok((pixels, w, h)),
        Some(ColorSpace::Luma) if pixels.len() >= w * h => {
            // A grayscale JPEG: neutral chroma.
            Ok((pixels.iter().flat_map(|&y| [y, 128, 128]).collect(), w, h))
        }
        other => Err(ConvertError::Jpeg(format!("decoded as {other:?}, {} bytes for {w}x{h}", pixels.len()))),
    }
}

/// JPEG's full-range luma (0-255) on video's limited range (16-235), which the encoder's I420
/// is (as every other source here).
fn luma_to_limited(y: u8) -> u8 {
    (16 + (u32::from(y) * 219 + 127) / 255) as u8
}

/// Full-range chroma (0-255 around 128) on the limited range (16-240).
fn chroma_to_limited(sum: u32, n: u32) -> u8 {
    // 128 + (c - 128) * 224 / 255 with c the block's average, rounded once.
    let c = f64::from(sum) / f64::from(n);
    (128.0 + (c - 128.0) * 224.0 / 255.0).round().clamp(16.0, 240.0) as u8
}

/// Interleaved 4:4:4 full-range YCbCr (JPEG) -> limited-range I420 (chroma: the average of
/// each 2x2 block).
fn to_i420_ycc(ycc: &[u8], w: usize, h: usize) -> Result<VideoFrame, ConvertError> {
    if w == 0 || h == 0 {
        return Err(ConvertError::Empty);
    }
    let (width, height) = (w as u32, h as u32);
    let mut f = VideoFrame::black(width, height);
    let cw = w.div_ceil(2);
    for (i, px) in ycc[..w * h * 3].chunks_exact(3).enumerate() {
        f.y[i] = luma_to_limited(px[0]);
    }
    for crow in 0..h.div_ceil(2) {
        for ccol in 0..cw {
            let (mut u, mut v, mut n) = (0u32, 0u32, 0u32);
            for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let (row, col) = (2 * crow + r, 2 * ccol + c);
                if row < h && col < w {
                    let p = (row * w + col) * 3;
                    u += u32::from(ycc[p + 1]);
                    v += u32::from(ycc[p + 2]);
                    n += 1;
                }
            }
            f.u[crow * cw + ccol] = chroma_to_limited(u, n);
            f.v[crow * cw + ccol] = chroma_to_limited(v, n);
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_bad_frames_are_errors_not_panics() {
        for format in [RawFormat::Yuyv, RawFormat::Nv12, RawFormat::I420] {
            assert!(matches!(to_i420(format, &[0; 10], 64, 48), Err(ConvertError::Size { .. })), "{format:?}");
        }
        assert!(matches!(to_i420(RawFormat::Mjpeg, b"not a jpeg", 64, 48), Err(ConvertError::Jpeg(_))));
        assert!(matches!(to_i420(RawFormat::Mjpeg, &[], 64, 48), Err(ConvertError::Jpeg(_))));
        let mut c = Converter::new();
        let empty = RawFrame { format: RawFormat::I420, data: &[], width: 0, height: 0 };
        assert_eq!(c.convert(empty, 64, 48, 0).err(), Some(ConvertError::Empty));
    }

    #[test]
    fn nv12_and_yuyv_carry_their_chroma() {
        // A 4x2 picture: Y ramps, U 100, V 200 (YUYV's rows differ so the average shows).
        let nv12: Vec<u8> = (0..8).chain([100, 200, 100, 200]).collect();
        let f = to_i420(RawFormat::Nv12, &nv12, 4, 2).expect("nv12");
        assert_eq!((f.y, f.u, f.v), ((0..8).collect::<Vec<u8>>(), vec![100, 100], vec![200, 200]));
        let yuyv = [10, 100, 11, 200, 12, 100, 13, 200, 20, 110, 21, 210, 22, 110, 23, 210];
        let f = to_i420(RawFormat::Yuyv, &yuyv, 4, 2).expect("yuyv");
        assert_eq!(f.y, vec![10, 11, 12, 13, 20, 21, 22, 23]);
        assert_eq!((f.u, f.v), (vec![105, 105], vec![205, 205]));
    }

    #[test]
    fn scaling_crops_around_the_center() {
        // 8x4 source: left half Y 0, right half Y 255; scaled to 2x2 keeping 1:1 keeps the
        // middle 4x4 (two columns of each), so the output is dark left, bright right.
        let mut src = VideoFrame::black(8, 4);
        for row in 0..4 {
            for col in 4..8 {
                src.y[row * 8 + col] = 255;
            }
        }
        let out = Converter::new().crop_scale(&src, 2, 2);
        assert_eq!((out.width, out.height, out.u.len()), (2, 2, 1));
        assert!(out.y[0] < 64 && out.y[2] < 64, "{:?}", out.y);
        assert!(out.y[1] > 192 && out.y[3] > 192, "{:?}", out.y);
    }
}
