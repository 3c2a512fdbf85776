//! Avatars: decoding under limits, perceptual hashes, and the measured
//! near-copy rule behind the `impersonation_suspected` avatar signal.
//!
//! An uploaded avatar is untrusted bytes. [`decode`] accepts PNG, JPEG and
//! WebP only (sniffed from the magic bytes, never from a file name or a
//! `Content-Type`), reads the dimensions from the header and refuses a picture
//! of more than [`AvatarLimits::max_pixels`] before a single pixel is decoded,
//! so a small file that would inflate to gigabytes (a decompression bomb)
//! costs nothing. The decoder also runs under `image::Limits` (width, height,
//! allocation) as a second line of defence.
//!
//! [`hash`] turns a decoded picture into an [`AvatarHash`]: two 64-bit DCT
//! hashes (one of the luma, one of the HSL lightness) computed on the
//! picture with any uniform border trimmed away, so that a copy that was
//! re-encoded, resized, cropped a little, framed, recoloured, blurred or
//! brightened lands a few bits away from the original while an unrelated
//! picture lands about 32 bits away. [`near_copy`] is the one rule that says
//! "this is the same picture"; its threshold was chosen with [`evaluate`],
//! which generates its own labelled pictures (photos and drawings, copies and
//! unrelated pairs) and prints recall per transformation and false alarms
//! (`cargo test -p recourse-domain evaluation -- --nocapture`).
//! [`AvatarIndex`] finds the near copies of a hash among many without
//! scanning them ([`crate::hash_index`]).
//!
//! Everything here is pure: bytes in, values out.

use std::collections::HashMap;
use std::fmt;
use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::{self, FilterType};
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageError, ImageFormat, ImageReader, Limits, Rgb, RgbImage};

use crate::hash_index::HashIndex;

// ---------------------------------------------------------------------------
// Limits and decoding
// ---------------------------------------------------------------------------

/// The default pixel limit: 4096 × 4096.
pub const DEFAULT_MAX_PIXELS: u64 = 16_777_216;
/// The default byte limit of one uploaded avatar.
pub const DEFAULT_MAX_BYTES: usize = 5 * 1024 * 1024;
/// The decoded picture is kept at most this many pixels on its longer side:
/// hashing needs 32 × 32, trimming needs a little more, and nothing else
/// needs the full resolution.
pub const WORKING_SIDE_MAX: u32 = 512;

/// What an uploaded avatar may cost to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvatarLimits {
    /// Size of the encoded file.
    pub max_bytes: usize,
    /// `width * height` of the picture, checked from the header before decoding.
    pub max_pixels: u64,
}

impl Default for AvatarLimits {
    fn default() -> Self {
        Self { max_bytes: DEFAULT_MAX_BYTES, max_pixels: DEFAULT_MAX_PIXELS }
    }
}

impl AvatarLimits {
    /// Bytes the decoder may allocate: the largest output (16-bit RGBA,
    /// 8 bytes a pixel) plus room for the decoders' own buffers.
    fn max_alloc_bytes(&self) -> u64 {
        self.max_pixels.saturating_mul(8).saturating_add(32 * 1024 * 1024)
    }

    fn image_limits(&self, with_dimensions: bool) -> Limits {
        let mut limits = Limits::default();
        limits.max_alloc = Some(self.max_alloc_bytes());
        if with_dimensions {
            let side_max = u32::try_from(self.max_pixels).unwrap_or(u32::MAX);
            limits.max_image_width = Some(side_max);
            limits.max_image_height = Some(side_max);
        }
        limits
    }
}

/// The three formats an avatar may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AvatarFormat {
    Png,
    Jpeg,
    WebP,
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_MAGIC: &[u8] = b"\xff\xd8\xff";

impl AvatarFormat {
    /// The format named by the file's first bytes, if it is one of ours.
    pub fn sniff(bytes: &[u8]) -> Option<AvatarFormat> {
        if bytes.starts_with(PNG_MAGIC) {
            Some(AvatarFormat::Png)
        } else if bytes.starts_with(JPEG_MAGIC) {
            Some(AvatarFormat::Jpeg)
        } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(AvatarFormat::WebP)
        } else {
            None
        }
    }

    /// The media type to serve the avatar with.
    pub fn media_type(self) -> &'static str {
        match self {
            AvatarFormat::Png => "image/png",
            AvatarFormat::Jpeg => "image/jpeg",
            AvatarFormat::WebP => "image/webp",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            AvatarFormat::Png => ImageFormat::Png,
            AvatarFormat::Jpeg => ImageFormat::Jpeg,
            AvatarFormat::WebP => ImageFormat::WebP,
        }
    }

    /// Whether `bytes` could be the start of a file of one of our formats
    /// that was cut short before its signature was complete.
    fn truncated_signature(bytes: &[u8]) -> bool {
        let riff_prefix = bytes.len() < 12 && b"RIFF".starts_with(&bytes[..bytes.len().min(4)]) && (bytes.len() <= 8 || b"WEBP".starts_with(&bytes[8..]));
        !bytes.is_empty() && (PNG_MAGIC.starts_with(bytes) || JPEG_MAGIC.starts_with(bytes) || riff_prefix)
    }
}

/// Why an avatar was refused, in the order the checks run. The HTTP edge maps
/// [`AvatarError::TooManyBytes`] and [`AvatarError::TooLarge`] to 413
/// `payload-too-large`, the others to 422 `invalid-avatar`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AvatarError {
    #[error("the avatar file has {bytes} bytes; at most {max} are accepted")]
    TooManyBytes { bytes: usize, max: usize },
    #[error("the avatar is not a PNG, JPEG or WebP image")]
    Format,
    #[error("the avatar has {pixels} pixels; at most {max} are accepted")]
    TooLarge { pixels: u64, max: u64 },
    #[error("the avatar image is corrupt or truncated")]
    Corrupt,
}

/// A picture that decoded within the limits, kept as a small RGB working
/// copy (at most [`WORKING_SIDE_MAX`] pixels a side, transparency flattened
/// onto white, EXIF orientation applied).
#[derive(Clone, Debug)]
pub struct DecodedAvatar {
    format: AvatarFormat,
    width: u32,
    height: u32,
    working: RgbImage,
}

impl DecodedAvatar {
    pub fn format(&self) -> AvatarFormat {
        self.format
    }

    /// Width in pixels as displayed (after the EXIF orientation).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels as displayed (after the EXIF orientation).
    pub fn height(&self) -> u32 {
        self.height
    }

    fn from_image(format: AvatarFormat, image: DynamicImage) -> DecodedAvatar {
        let (width, height) = (image.width(), image.height());
        let working = if image.color().has_alpha() { working_copy(&image.into_rgba8()) } else { shrink(image.into_rgb8()) };
        DecodedAvatar { format, width, height, working }
    }
}

/// Decodes an uploaded avatar, refusing anything that is not a PNG, JPEG or
/// WebP picture within `limits`. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8], limits: &AvatarLimits) -> Result<DecodedAvatar, AvatarError> {
    if bytes.len() > limits.max_bytes {
        return Err(AvatarError::TooManyBytes { bytes: bytes.len(), max: limits.max_bytes });
    }
    let Some(format) = AvatarFormat::sniff(bytes) else {
        return Err(if AvatarFormat::truncated_signature(bytes) { AvatarError::Corrupt } else { AvatarError::Format });
    };
    // Defence in depth: the decoders are fuzzed upstream, but a panic on
    // untrusted bytes must still end as a refusal, not as a failed request.
    std::panic::catch_unwind(|| decode_sniffed(bytes, format, limits)).unwrap_or(Err(AvatarError::Corrupt))
}

fn decode_sniffed(bytes: &[u8], format: AvatarFormat, limits: &AvatarLimits) -> Result<DecodedAvatar, AvatarError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    // The header is read under the allocation limit only, so that the
    // dimensions can be checked and reported here.
    reader.limits(limits.image_limits(false));
    let mut decoder = reader.into_decoder().map_err(|_| AvatarError::Corrupt)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(AvatarError::TooLarge { pixels, max: limits.max_pixels });
    }
    if pixels == 0 {
        return Err(AvatarError::Corrupt);
    }
    // The output (at most 8 bytes a pixel) always fits the allocation limit
    // (`max_alloc_bytes`); what the decoders allocate besides is held to it.
    let too_large = AvatarError::TooLarge { pixels, max: limits.max_pixels };
    decoder.set_limits(limits.image_limits(true)).map_err(|_| too_large.clone())?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|error| refusal_of(error, too_large))?;
    image.apply_orientation(orientation);
    Ok(DecodedAvatar::from_image(format, image))
}

/// A decoder's error as a refusal: over a limit is `too_large`, anything
/// else is a corrupt picture.
fn refusal_of(error: ImageError, too_large: AvatarError) -> AvatarError {
    match error {
        ImageError::Limits(_) => too_large,
        _ => AvatarError::Corrupt,
    }
}

/// How many pixels of a side become one pixel of the working copy.
fn shrink_factor(width: u32, height: u32) -> u32 {
    width.max(height).div_ceil(WORKING_SIDE_MAX).max(1)
}

/// An opaque picture as its working copy: itself when it is small enough.
fn shrink(rgb: RgbImage) -> RgbImage {
    if shrink_factor(rgb.width(), rgb.height()) == 1 {
        return rgb;
    }
    let (width, height) = rgb.dimensions();
    box_average(width, height, |x, y| rgb.get_pixel(x, y).0)
}

/// A picture with transparency as its working copy: flattened onto white,
/// then shrunk.
fn working_copy(rgba: &image::RgbaImage) -> RgbImage {
    let (width, height) = rgba.dimensions();
    box_average(width, height, |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let alpha = u32::from(a);
        [r, g, b].map(|value| ((u32::from(value) * alpha + 255 * (255 - alpha) + 127) / 255) as u8)
    })
}

/// Box-averages a `width` × `height` picture (read through `pixel`) down to
/// at most [`WORKING_SIDE_MAX`] a side.
fn box_average(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
    let factor = shrink_factor(width, height);
    let (out_width, out_height) = (width.div_ceil(factor), height.div_ceil(factor));
    let mut out = RgbImage::new(out_width, out_height);
    for out_y in 0..out_height {
        for out_x in 0..out_width {
            let mut sum = [0u32; 3];
            let mut count = 0u32;
            for y in out_y * factor..((out_y + 1) * factor).min(height) {
                for x in out_x * factor..((out_x + 1) * factor).min(width) {
                    let [r, g, b] = pixel(x, y);
                    sum[0] += u32::from(r);
                    sum[1] += u32::from(g);
                    sum[2] += u32::from(b);
                    count += 1;
                }
            }
            debug_assert!(count > 0, "every output pixel covers at least one input pixel");
            out.put_pixel(out_x, out_y, Rgb(sum.map(|total| ((total + count / 2) / count) as u8)));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Perceptual hashes
// ---------------------------------------------------------------------------

/// Two 64-bit perceptual hashes of one picture: the same DCT hash of a
/// 32 × 32 grey version, over two different grey levels. Each bit says
/// whether one of the 64 lowest-frequency DCT coefficients is above their
/// median.
///
/// - `luma`: brightness as the eye weighs it (Rec. 709). A hue rotation that
///   keeps luminance (CSS `hue-rotate`), greyscale and sepia leave it alone.
/// - `lightness`: HSL lightness, `(max + min) / 2`. An HSV/HSL hue shift and
///   any swap of the colour channels leave it alone, which luma is not.
///
/// No single grey level survives every recolouring, and two do; so a pair is
/// a near copy when either hash is close ([`near_copy`]), and both are
/// indexed ([`AvatarIndex`]).
///
/// Both are computed after trimming a uniform border (a frame, a plain
/// margin) and compare each coefficient with the median of all 64, so
/// framing and any change of brightness or contrast change nothing. A
/// picture with no detail at all (one flat colour) hashes to
/// [`AvatarHash::FLAT`], which is a near copy of nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AvatarHash {
    pub luma: u64,
    pub lightness: u64,
}

impl AvatarHash {
    /// The hash of a picture without detail. Not a real hash: the median
    /// rule sets about 32 bits of a real one.
    pub const FLAT: AvatarHash = AvatarHash { luma: 0, lightness: 0 };

    pub fn is_flat(&self) -> bool {
        *self == AvatarHash::FLAT
    }
}

/// The stored form (two 64-bit columns): `[luma, lightness]`.
impl From<AvatarHash> for [u64; 2] {
    fn from(hash: AvatarHash) -> [u64; 2] {
        [hash.luma, hash.lightness]
    }
}

/// From the stored form `[luma, lightness]`.
impl From<[u64; 2]> for AvatarHash {
    fn from([luma, lightness]: [u64; 2]) -> AvatarHash {
        AvatarHash { luma, lightness }
    }
}

/// Largest [`distance`] between near copies, measured with [`evaluate`]:
/// most copies land at 0–8 bits (a crop of 8% from two sides at 12–24),
/// unrelated pictures at 16 or more (one pair in a hundred at 20 or less).
/// Distances are even (the median splits the bits 32/32, so every bit that
/// turns on is matched by one that turns off): 14 is the last step below the
/// closest unrelated pair. [`HashIndex`] searches within 14 at two bits per
/// 13-bit block.
pub const NEAR_COPY_DISTANCE_MAX: u32 = 14;

/// Side of the grey grid the DCT runs on.
const GRID_SIDE: usize = 32;
/// The DCT coefficients used have `1 <= u + v <= DCT_DIAGONAL_MAX`.
const DCT_DIAGONAL_MAX: usize = 10;
/// A grey grid whose standard deviation is below this (on a 0–255 scale)
/// has no detail worth hashing.
const FLAT_STDDEV_MAX: f64 = 2.0;

/// The perceptual hashes of a decoded avatar.
pub fn hash(decoded: &DecodedAvatar) -> AvatarHash {
    let image = &decoded.working;
    let rect = trim_uniform_border(image);
    let (luma, lightness) = SummedArea::luma_and_lightness(image);
    let (luma, lightness) = (luma.area_sample(rect, GRID_SIDE, GRID_SIDE), lightness.area_sample(rect, GRID_SIDE, GRID_SIDE));
    if without_detail(&luma) && without_detail(&lightness) {
        return AvatarHash::FLAT;
    }
    let hash = AvatarHash { luma: phash(&luma), lightness: phash(&lightness) };
    // A picture with detail never hashes to the sentinel (about 32 bits are set).
    if hash.is_flat() { AvatarHash { luma: 1, lightness: 1 } } else { hash }
}

/// How far apart two avatars look: the smaller of the Hamming distances of
/// their `luma` and `lightness` hashes. 0 for the same picture, about 32 for
/// unrelated pictures.
pub fn distance(a: &AvatarHash, b: &AvatarHash) -> u32 {
    (a.luma ^ b.luma).count_ones().min((a.lightness ^ b.lightness).count_ones())
}

/// Whether `b` looks like a copy of `a`: [`distance`] at most
/// [`NEAR_COPY_DISTANCE_MAX`]. A flat picture is a near copy of nothing.
pub fn near_copy(a: &AvatarHash, b: &AvatarHash) -> bool {
    !a.is_flat() && !b.is_flat() && distance(a, b) <= NEAR_COPY_DISTANCE_MAX
}

/// Whether a grey grid is too flat to hash: its standard deviation is below
/// [`FLAT_STDDEV_MAX`].
fn without_detail(grid: &[f64]) -> bool {
    standard_deviation(grid) < FLAT_STDDEV_MAX
}

/// The population standard deviation, from the deviations themselves (not
/// from `Σv² − n·mean²`, which cancels catastrophically on a bright, flat
/// grid).
fn standard_deviation(values: &[f64]) -> f64 {
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count).sqrt()
}

/// 64 bits: the lowest-frequency DCT coefficients (by `u + v`, then `u`)
/// above their median. The constant term is left out: it says nothing about
/// the picture's layout.
fn phash(grid: &[f64]) -> u64 {
    debug_assert_eq!(grid.len(), GRID_SIDE * GRID_SIDE);
    let frequencies: Vec<(usize, usize)> = (1..=DCT_DIAGONAL_MAX).flat_map(|diagonal| (0..=diagonal).map(move |u| (u, diagonal - u))).take(64).collect();
    assert_eq!(frequencies.len(), 64, "one bit per frequency");
    let bands = DCT_DIAGONAL_MAX + 1;
    let cosines: Vec<f64> = (0..bands).flat_map(|u| (0..GRID_SIDE).map(move |x| ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / (2 * GRID_SIDE) as f64).cos())).collect();
    // Rows first: rows[y][u] = sum_x grid[y][x] cos(u, x).
    let mut rows = vec![0.0; GRID_SIDE * bands];
    for y in 0..GRID_SIDE {
        for u in 0..bands {
            let cos_u = &cosines[u * GRID_SIDE..(u + 1) * GRID_SIDE];
            rows[y * bands + u] = grid[y * GRID_SIDE..(y + 1) * GRID_SIDE].iter().zip(cos_u).map(|(g, c)| g * c).sum();
        }
    }
    let coefficients: Vec<f64> = frequencies
        .iter()
        .map(|&(u, v)| {
            let cos_v = &cosines[v * GRID_SIDE..(v + 1) * GRID_SIDE];
            (0..GRID_SIDE).map(|y| rows[y * bands + u] * cos_v[y]).sum()
        })
        .collect();
    bits_above_median(&coefficients)
}

/// One bit per value, first value highest: whether it is above the median
/// of all 64 (the mean of the middle two). A value equal to it is a 0.
fn bits_above_median(values: &[f64]) -> u64 {
    debug_assert_eq!(values.len(), 64);
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[31] + sorted[32]) / 2.0;
    values.iter().fold(0u64, |bits, &c| (bits << 1) | u64::from(c > median))
}

/// A rectangle of pixels, `x0..x1` × `y0..y1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rect {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl Rect {
    fn whole(image: &RgbImage) -> Rect {
        Rect { x0: 0, y0: 0, x1: image.width(), y1: image.height() }
    }

    fn width(&self) -> u32 {
        self.x1 - self.x0
    }

    fn height(&self) -> u32 {
        self.y1 - self.y0
    }
}

/// Largest per-channel difference from the border colour that still counts
/// as border (JPEG ringing and anti-aliasing included).
const BORDER_TOLERANCE: i32 = 28;
/// Share of a line's pixels that must be border colour for the line to be
/// trimmed.
const BORDER_LINE_SHARE_PERCENT: u32 = 92;
/// Trimming rounds: a frame drawn around a picture that has a plain
/// background comes off first, then the background.
const TRIM_ROUNDS_MAX: usize = 4;

/// The picture without its uniform border: a frame added around a copy, or
/// the plain margin around a drawing. In each round the ring's median colour
/// is the candidate border colour; each side's depth is the number of lines,
/// from the outside in, that nearly all have that colour; and the smallest of
/// the four depths comes off every side. Trimming the same amount from every
/// side takes off a frame exactly (frames are as wide on every side) and
/// stops at the first side where the picture itself begins, so an original
/// and its framed copy end up trimmed alike. Rounds: a frame first, then
/// a plain background inside it, and so on while a round trims something
/// (at most four). A trim never leaves less than a quarter of a side.
fn trim_uniform_border(image: &RgbImage) -> Rect {
    let mut rect = Rect::whole(image);
    for _ in 0..TRIM_ROUNDS_MAX {
        let colour = ring_median(image, rect).map(i32::from);
        let (raw, stride) = (image.as_raw(), image.width() as usize * 3);
        let close = |x: u32, y: u32| {
            let at = y as usize * stride + x as usize * 3;
            (raw[at] as i32 - colour[0]).abs() <= BORDER_TOLERANCE && (raw[at + 1] as i32 - colour[1]).abs() <= BORDER_TOLERANCE && (raw[at + 2] as i32 - colour[2]).abs() <= BORDER_TOLERANCE
        };
        let uniform = |count: usize, total: u32| count as u32 * 100 >= total * BORDER_LINE_SHARE_PERCENT;
        let row_uniform = |y: u32| uniform((rect.x0..rect.x1).filter(|&x| close(x, y)).count(), rect.width());
        let column_uniform = |x: u32| uniform((rect.y0..rect.y1).filter(|&y| close(x, y)).count(), rect.height());
        // The deepest trim that still leaves a quarter of each side.
        let side_min = (image.width().min(image.height()) / 4).max(8);
        let depth_max = rect.width().min(rect.height()).saturating_sub(side_min) / 2;
        let mut depth = 0;
        while depth < depth_max && row_uniform(rect.y0 + depth) && row_uniform(rect.y1 - 1 - depth) && column_uniform(rect.x0 + depth) && column_uniform(rect.x1 - 1 - depth) {
            depth += 1;
        }
        if depth == 0 {
            break;
        }
        rect = Rect { x0: rect.x0 + depth, y0: rect.y0 + depth, x1: rect.x1 - depth, y1: rect.y1 - depth };
    }
    rect
}

/// Per-channel median of the outermost ring of `rect`.
fn ring_median(image: &RgbImage, rect: Rect) -> [u8; 3] {
    let mut channels: [Vec<u8>; 3] = Default::default();
    let mut push = |x: u32, y: u32| {
        let pixel = image.get_pixel(x, y).0;
        for (channel, value) in channels.iter_mut().zip(pixel) {
            channel.push(value);
        }
    };
    for x in rect.x0..rect.x1 {
        push(x, rect.y0);
        push(x, rect.y1 - 1);
    }
    for y in rect.y0..rect.y1 {
        push(rect.x0, y);
        push(rect.x1 - 1, y);
    }
    channels.map(|mut values| {
        values.sort_unstable();
        values[values.len() / 2]
    })
}

/// Summed-area table of a grey level, for exact area-averaged resampling
/// (any scale, any fractional rectangle) in constant time per cell.
struct SummedArea {
    width: usize,
    sums: Vec<f64>,
}

impl SummedArea {
    /// The tables of the luma and of the lightness of `image`, in one pass.
    fn luma_and_lightness(image: &RgbImage) -> (SummedArea, SummedArea) {
        let (width, height) = (image.width() as usize, image.height() as usize);
        let stride = width + 1;
        let mut luma = vec![0.0; stride * (height + 1)];
        let mut lightness = vec![0.0; stride * (height + 1)];
        let raw = image.as_raw();
        for y in 0..height {
            // Integer weights (Rec. 709 × 10,000; max + min), exact per row.
            let (mut luma_row, mut lightness_row) = (0u64, 0u64);
            for x in 0..width {
                let at = (y * width + x) * 3;
                let (r, g, b) = (u64::from(raw[at]), u64::from(raw[at + 1]), u64::from(raw[at + 2]));
                luma_row += 2126 * r + 7152 * g + 722 * b;
                lightness_row += r.max(g).max(b) + r.min(g).min(b);
                let (cell, above) = ((y + 1) * stride + x + 1, y * stride + x + 1);
                luma[cell] = luma[above] + luma_row as f64 / 10_000.0;
                lightness[cell] = lightness[above] + lightness_row as f64 / 2.0;
            }
        }
        (SummedArea { width, sums: luma }, SummedArea { width, sums: lightness })
    }

    fn at(&self, x: usize, y: usize) -> f64 {
        self.sums[y * (self.width + 1) + x]
    }

    /// Sum over `[0, x) × [0, y)` for real `x`, `y` (pixels are constant squares).
    fn at_fraction(&self, x: f64, y: f64) -> f64 {
        let (xi, yi) = (x.floor() as usize, y.floor() as usize);
        let (fx, fy) = (x - xi as f64, y - yi as f64);
        let max_x = self.width;
        let max_y = self.sums.len() / (self.width + 1) - 1;
        let (xj, yj) = ((xi + 1).min(max_x), (yi + 1).min(max_y));
        let top = self.at(xi, yi) * (1.0 - fx) + self.at(xj, yi) * fx;
        let bottom = self.at(xi, yj) * (1.0 - fx) + self.at(xj, yj) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// Mean grey of each of `columns` × `rows` equal cells of `rect`, row by row.
    fn area_sample(&self, rect: Rect, columns: usize, rows: usize) -> Vec<f64> {
        let cell_width = f64::from(rect.width()) / columns as f64;
        let cell_height = f64::from(rect.height()) / rows as f64;
        let mut out = Vec::with_capacity(columns * rows);
        for row in 0..rows {
            let y0 = f64::from(rect.y0) + row as f64 * cell_height;
            let y1 = y0 + cell_height;
            for column in 0..columns {
                let x0 = f64::from(rect.x0) + column as f64 * cell_width;
                let x1 = x0 + cell_width;
                let sum = self.at_fraction(x1, y1) - self.at_fraction(x0, y1) - self.at_fraction(x1, y0) + self.at_fraction(x0, y0);
                out.push(sum / (cell_width * cell_height));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Near-copy search
// ---------------------------------------------------------------------------

/// Near-copy search among many avatars' hashes. [`near_copy`] is "either
/// hash close", so both hashes are indexed, each in its own [`HashIndex`]
/// searched within [`NEAR_COPY_DISTANCE_MAX`]; a key found by either is
/// reported once, with its [`distance`]. (An "and" rule would index the more
/// selective hash and verify the other; an "or" rule cannot skip either.)
/// Flat pictures are not indexed.
#[derive(Debug)]
pub struct AvatarIndex<K> {
    by_luma: HashIndex<K>,
    by_lightness: HashIndex<K>,
    hashes: HashMap<K, AvatarHash>,
}

impl<K: Clone + Eq + std::hash::Hash> Default for AvatarIndex<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + std::hash::Hash> AvatarIndex<K> {
    pub fn new() -> Self {
        AvatarIndex { by_luma: HashIndex::new(), by_lightness: HashIndex::new(), hashes: HashMap::new() }
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Stores (or replaces) `key`'s avatar hash. A flat hash only removes.
    pub fn insert(&mut self, key: K, hash: AvatarHash) {
        self.remove(&key);
        if hash.is_flat() {
            return;
        }
        self.by_luma.insert(key.clone(), hash.luma);
        self.by_lightness.insert(key.clone(), hash.lightness);
        self.hashes.insert(key, hash);
    }

    pub fn remove(&mut self, key: &K) {
        if self.hashes.remove(key).is_some() {
            self.by_luma.remove(key);
            self.by_lightness.remove(key);
        }
    }

    /// Every stored avatar that is a [`near_copy`] of `hash`, with its
    /// [`distance`], nearest first.
    pub fn near_copies(&self, hash: &AvatarHash) -> Vec<(K, u32)> {
        if hash.is_flat() {
            return Vec::new();
        }
        let mut found: HashMap<K, u32> = HashMap::new();
        let candidates = self.by_luma.near(hash.luma, NEAR_COPY_DISTANCE_MAX).into_iter().chain(self.by_lightness.near(hash.lightness, NEAR_COPY_DISTANCE_MAX));
        for (key, _) in candidates {
            if let Some(stored) = self.hashes.get(&key) {
                debug_assert!(near_copy(stored, hash), "an indexed hash within the radius is a near copy");
                found.insert(key, distance(stored, hash));
            }
        }
        let mut found: Vec<(K, u32)> = found.into_iter().collect();
        found.sort_by_key(|(_, d)| *d);
        found
    }
}

// ---------------------------------------------------------------------------
// Evaluation: generated pictures, labelled pairs, recall and false alarms
// ---------------------------------------------------------------------------

/// Side of the generated pictures.
const EVAL_SIDE: u32 = 96;
/// Generated "photos" (gradients, soft blobs, noise).
const EVAL_PHOTOS: u64 = 40;
/// Generated "drawings" (flat shapes, strokes like text, simple faces).
const EVAL_DRAWINGS: u64 = 40;

/// A tiny deterministic generator (xorshift64): the evaluation must print
/// the same figures on every machine.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // splitmix64 of the seed, so that neighbouring seeds start far apart.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % u64::from(n)) as u32
    }

    fn colour(&mut self) -> [f64; 3] {
        [self.range(0.0, 255.0), self.range(0.0, 255.0), self.range(0.0, 255.0)]
    }
}

/// The two kinds of generated picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PictureKind {
    Photo,
    Drawing,
}

fn to_pixel(colour: [f64; 3]) -> Rgb<u8> {
    Rgb(colour.map(|c| c.round().clamp(0.0, 255.0) as u8))
}

fn blend(under: [f64; 3], over: [f64; 3], alpha: f64) -> [f64; 3] {
    [0, 1, 2].map(|c| under[c] * (1.0 - alpha) + over[c] * alpha)
}

/// The pixels `start..end` of a side of `pixels` within `reach` of `centre`.
fn pixel_span(centre: f64, reach: f64, pixels: usize) -> (usize, usize) {
    ((centre - reach).max(0.0) as usize, ((centre + reach).ceil() as usize).min(pixels))
}

/// A "photo": a two-colour gradient with a slow wave, four to seven soft
/// rotated blobs, and sensor-like noise.
fn photo(seed: u64) -> RgbImage {
    let mut rng = XorShift::new(seed);
    let side = f64::from(EVAL_SIDE);
    let pixels = EVAL_SIDE as usize;
    let (from, to) = (rng.colour(), rng.colour());
    let angle = rng.range(0.0, std::f64::consts::TAU);
    let (wave_cycles, wave_phase, wave_size) = (rng.range(0.5, 2.5), rng.range(0.0, 6.3), rng.range(10.0, 40.0));
    let mut canvas: Vec<[f64; 3]> = Vec::with_capacity(pixels * pixels);
    for y in 0..pixels {
        for x in 0..pixels {
            let (fx, fy) = (x as f64, y as f64);
            let along = ((fx - side / 2.0) * angle.cos() + (fy - side / 2.0) * angle.sin()) / side + 0.5;
            let wave = wave_size * (fx / side * wave_cycles * std::f64::consts::TAU + fy / side * 1.3 + wave_phase).sin();
            canvas.push(blend(from, to, along.clamp(0.0, 1.0)).map(|c| c + wave));
        }
    }
    for _ in 0..4 + rng.below(4) {
        let colour = rng.colour();
        let (cx, cy) = (rng.range(0.1, 0.9) * side, rng.range(0.1, 0.9) * side);
        let (rx, ry, turn, softness) = (rng.range(0.08, 0.3) * side, rng.range(0.08, 0.3) * side, rng.range(0.0, 3.2), rng.range(0.1, 0.5));
        let reach = rx.max(ry) * (1.0 + softness);
        let ((x0, x1), (y0, y1)) = (pixel_span(cx, reach, pixels), pixel_span(cy, reach, pixels));
        let (cos, sin) = (turn.cos(), turn.sin());
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                let (u, v) = (dx * cos + dy * sin, -dx * sin + dy * cos);
                let d = ((u / rx).powi(2) + (v / ry).powi(2)).sqrt();
                let alpha = ((1.0 + softness - d) / (2.0 * softness)).clamp(0.0, 1.0);
                canvas[y * pixels + x] = blend(canvas[y * pixels + x], colour, alpha);
            }
        }
    }
    let mut image = RgbImage::new(EVAL_SIDE, EVAL_SIDE);
    for (pixel, colour) in image.pixels_mut().zip(canvas) {
        let noise = rng.range(-7.0, 7.0);
        *pixel = to_pixel(colour.map(|c| c + noise));
    }
    image
}

/// Flat-colour painting primitives for the drawings.
struct Canvas {
    image: RgbImage,
}

impl Canvas {
    /// Paints the pixels whose centre is `inside`. (Every pixel is asked: a
    /// drawing is 96 × 96 and has a few dozen shapes.)
    fn paint(&mut self, colour: Rgb<u8>, inside: impl Fn(f64, f64) -> bool) {
        for (x, y, pixel) in self.image.enumerate_pixels_mut() {
            if inside(f64::from(x) + 0.5, f64::from(y) + 0.5) {
                *pixel = colour;
            }
        }
    }

    fn ellipse(&mut self, colour: Rgb<u8>, cx: f64, cy: f64, rx: f64, ry: f64) {
        self.paint(colour, |x, y| ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0);
    }

    /// The pixels from `floor(x0)` to `ceil(x1)`, and so on (centres are at
    /// half pixels).
    fn rectangle(&mut self, colour: Rgb<u8>, x0: f64, y0: f64, x1: f64, y1: f64) {
        self.paint(colour, |x, y| x > x0.floor() && x < x1.ceil() && y > y0.floor() && y < y1.ceil());
    }

    fn triangle(&mut self, colour: Rgb<u8>, corners: [(f64, f64); 3]) {
        let edge = |(ax, ay): (f64, f64), (bx, by): (f64, f64), x: f64, y: f64| (bx - ax) * (y - ay) - (by - ay) * (x - ax);
        self.paint(colour, |x, y| {
            let sides = [edge(corners[0], corners[1], x, y), edge(corners[1], corners[2], x, y), edge(corners[2], corners[0], x, y)];
            sides.iter().all(|s| *s >= 0.0) || sides.iter().all(|s| *s <= 0.0)
        });
    }

    /// A thick segment from `a` to `b`.
    fn stroke(&mut self, colour: Rgb<u8>, (ax, ay): (f64, f64), (bx, by): (f64, f64), width: f64) {
        let length_squared = ((bx - ax).powi(2) + (by - ay).powi(2)).max(1e-9);
        self.paint(colour, |x, y| {
            let t = (((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / length_squared).clamp(0.0, 1.0);
            let (px, py) = (ax + t * (bx - ax), ay + t * (by - ay));
            (x - px).powi(2) + (y - py).powi(2) <= (width / 2.0).powi(2)
        });
    }

    /// The lower half of a ring: a smile.
    fn smile(&mut self, colour: Rgb<u8>, cx: f64, cy: f64, radius: f64, width: f64) {
        self.paint(colour, |x, y| {
            let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
            y > cy && (d - radius).abs() <= width / 2.0
        });
    }
}

/// A "drawing": a plain or pastel background, flat shapes, sometimes a
/// simple face, sometimes rows of strokes like handwriting or a logo's text.
fn drawing(seed: u64) -> RgbImage {
    let mut rng = XorShift::new(seed ^ 0xD8A3_11C5);
    let side = f64::from(EVAL_SIDE);
    let background = if rng.below(2) == 0 { [255.0; 3] } else { [rng.range(170.0, 255.0), rng.range(170.0, 255.0), rng.range(170.0, 255.0)] };
    let mut canvas = Canvas { image: RgbImage::from_pixel(EVAL_SIDE, EVAL_SIDE, to_pixel(background)) };
    let shapes = 1 + rng.below(4);
    for _ in 0..shapes {
        let colour = to_pixel(rng.colour());
        let (cx, cy, size) = (rng.range(0.15, 0.85) * side, rng.range(0.15, 0.85) * side, rng.range(0.08, 0.3) * side);
        match rng.below(3) {
            0 => canvas.ellipse(colour, cx, cy, size, size * rng.range(0.6, 1.4)),
            1 => canvas.rectangle(colour, cx - size, cy - size * rng.range(0.4, 1.2), cx + size, cy + size * rng.range(0.4, 1.2)),
            _ => {
                let corner = |rng: &mut XorShift| (cx + rng.range(-1.5, 1.5) * size, cy + rng.range(-1.5, 1.5) * size);
                let corners = [corner(&mut rng), corner(&mut rng), corner(&mut rng)];
                canvas.triangle(colour, corners);
            }
        }
    }
    if rng.below(5) < 2 {
        let (cx, cy, radius) = (rng.range(0.35, 0.65) * side, rng.range(0.35, 0.6) * side, rng.range(0.22, 0.34) * side);
        let skin = to_pixel([rng.range(150.0, 255.0), rng.range(110.0, 220.0), rng.range(80.0, 200.0)]);
        let dark = to_pixel([rng.range(0.0, 70.0), rng.range(0.0, 70.0), rng.range(0.0, 70.0)]);
        if rng.below(2) == 0 {
            canvas.ellipse(dark, cx, cy - radius * 0.3, radius * 1.05, radius * 0.9);
        }
        canvas.ellipse(skin, cx, cy, radius, radius * rng.range(1.0, 1.2));
        let eye_gap = radius * rng.range(0.3, 0.45);
        let eye_size = radius * rng.range(0.08, 0.16);
        canvas.ellipse(dark, cx - eye_gap, cy - radius * 0.2, eye_size, eye_size);
        canvas.ellipse(dark, cx + eye_gap, cy - radius * 0.2, eye_size, eye_size);
        canvas.smile(dark, cx, cy + radius * 0.05, radius * rng.range(0.35, 0.55), radius * 0.08);
    }
    if rng.below(2) == 0 {
        let ink = to_pixel([rng.range(0.0, 90.0), rng.range(0.0, 90.0), rng.range(0.0, 90.0)]);
        let rows = 1 + rng.below(3);
        let (line_height, top) = (rng.range(0.08, 0.14) * side, rng.range(0.55, 0.7) * side);
        for row in 0..rows {
            let baseline = top + f64::from(row) * line_height * 1.3;
            let mut x = rng.range(0.08, 0.2) * side;
            while x < side * 0.85 {
                let width = rng.range(0.3, 0.9) * line_height;
                match rng.below(3) {
                    0 => canvas.stroke(ink, (x, baseline), (x, baseline - line_height), line_height * 0.18),
                    1 => canvas.stroke(ink, (x, baseline - line_height * 0.5), (x + width, baseline - line_height * 0.5), line_height * 0.18),
                    _ => canvas.stroke(ink, (x, baseline), (x + width, baseline - line_height), line_height * 0.18),
                }
                x += width + rng.range(0.1, 0.4) * line_height;
            }
        }
    }
    canvas.image
}

/// One step of an impostor's edit.
#[derive(Clone, Copy, Debug)]
enum Edit {
    /// Scale both sides (Catmull-Rom).
    Resize(f64),
    /// Remove these shares of the width/height from left, top, right, bottom.
    Crop(f64, f64, f64, f64),
    /// A frame of this share of the side; `None` picks a colour per picture.
    Border(f64, Option<[u8; 3]>),
    /// CSS `hue-rotate` by degrees.
    HueRotate(i32),
    /// HSV hue shift by degrees (what photo apps call "hue").
    HueShift(f64),
    /// Red and blue swapped.
    SwapRedBlue,
    Sepia,
    Greyscale,
    /// Gaussian blur, sigma in pixels.
    Blur(f32),
    /// Multiply every channel by this factor (clipped).
    Brightness(f64),
}

#[derive(Clone, Copy, Debug)]
enum Encoding {
    Png,
    Jpeg(u8),
    WebPLossless,
}

/// A labelled transformation: the edits an impostor makes, then the encoding
/// they upload.
struct Transformation {
    name: &'static str,
    edits: &'static [Edit],
    encoding: Encoding,
}

const TRANSFORMATIONS: &[Transformation] = &[
    Transformation { name: "re-encode JPEG q80", edits: &[], encoding: Encoding::Jpeg(80) },
    Transformation { name: "re-encode JPEG q60", edits: &[], encoding: Encoding::Jpeg(60) },
    Transformation { name: "re-encode WebP", edits: &[], encoding: Encoding::WebPLossless },
    Transformation { name: "resize 50%", edits: &[Edit::Resize(0.5)], encoding: Encoding::Png },
    Transformation { name: "resize 150%", edits: &[Edit::Resize(1.5)], encoding: Encoding::Png },
    Transformation { name: "crop 5% each side", edits: &[Edit::Crop(0.05, 0.05, 0.05, 0.05)], encoding: Encoding::Png },
    Transformation { name: "crop 8% left and top", edits: &[Edit::Crop(0.08, 0.08, 0.0, 0.0)], encoding: Encoding::Png },
    Transformation { name: "crop 8% right", edits: &[Edit::Crop(0.0, 0.0, 0.08, 0.0)], encoding: Encoding::Png },
    Transformation { name: "border 5% white", edits: &[Edit::Border(0.05, Some([255, 255, 255]))], encoding: Encoding::Png },
    Transformation { name: "border 8% black", edits: &[Edit::Border(0.08, Some([0, 0, 0]))], encoding: Encoding::Png },
    Transformation { name: "border 10% colour", edits: &[Edit::Border(0.10, None)], encoding: Encoding::Png },
    Transformation { name: "hue-rotate 90°", edits: &[Edit::HueRotate(90)], encoding: Encoding::Png },
    Transformation { name: "hue shift 180° (HSV)", edits: &[Edit::HueShift(180.0)], encoding: Encoding::Png },
    Transformation { name: "swap red and blue", edits: &[Edit::SwapRedBlue], encoding: Encoding::Png },
    Transformation { name: "sepia", edits: &[Edit::Sepia], encoding: Encoding::Png },
    Transformation { name: "greyscale", edits: &[Edit::Greyscale], encoding: Encoding::Png },
    Transformation { name: "blur σ1", edits: &[Edit::Blur(1.0)], encoding: Encoding::Png },
    Transformation { name: "blur σ1.5", edits: &[Edit::Blur(1.5)], encoding: Encoding::Png },
    Transformation { name: "brighten 20%", edits: &[Edit::Brightness(1.2)], encoding: Encoding::Png },
    Transformation { name: "darken 20%", edits: &[Edit::Brightness(0.8)], encoding: Encoding::Png },
    Transformation { name: "resize 50% + JPEG q70", edits: &[Edit::Resize(0.5)], encoding: Encoding::Jpeg(70) },
    Transformation { name: "border 6% + JPEG q75", edits: &[Edit::Border(0.06, None)], encoding: Encoding::Jpeg(75) },
    Transformation { name: "crop 4% + brighten 10% + JPEG q70", edits: &[Edit::Crop(0.04, 0.02, 0.03, 0.04), Edit::Brightness(1.1)], encoding: Encoding::Jpeg(70) },
    Transformation { name: "sepia + resize 75% + JPEG q80", edits: &[Edit::Sepia, Edit::Resize(0.75)], encoding: Encoding::Jpeg(80) },
    Transformation { name: "hue 45° + border 5% + WebP", edits: &[Edit::HueShift(45.0), Edit::Border(0.05, None)], encoding: Encoding::WebPLossless },
    Transformation { name: "blur σ1 + darken 15% + JPEG q70", edits: &[Edit::Blur(1.0), Edit::Brightness(0.85)], encoding: Encoding::Jpeg(70) },
    Transformation { name: "resize 150% + crop 5% + JPEG q65", edits: &[Edit::Resize(1.5), Edit::Crop(0.05, 0.0, 0.0, 0.05)], encoding: Encoding::Jpeg(65) },
];

fn map_pixels(image: &RgbImage, f: impl Fn([f64; 3]) -> [f64; 3]) -> RgbImage {
    let mut out = image.clone();
    for pixel in out.pixels_mut() {
        *pixel = to_pixel(f(pixel.0.map(f64::from)));
    }
    out
}

fn hsv_hue_shift([r, g, b]: [f64; 3], degrees: f64) -> [f64; 3] {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let chroma = max - min;
    if chroma <= 0.0 {
        return [r, g, b];
    }
    let hue = if max == r {
        ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        (b - r) / chroma + 2.0
    } else {
        (r - g) / chroma + 4.0
    };
    let hue = (hue + degrees / 60.0).rem_euclid(6.0);
    let x = chroma * (1.0 - ((hue % 2.0) - 1.0).abs());
    let (r1, g1, b1) = match hue as u32 {
        0 => (chroma, x, 0.0),
        1 => (x, chroma, 0.0),
        2 => (0.0, chroma, x),
        3 => (0.0, x, chroma),
        4 => (x, 0.0, chroma),
        _ => (chroma, 0.0, x),
    };
    [r1 + min, g1 + min, b1 + min]
}

fn apply(image: &RgbImage, edit: Edit, rng: &mut XorShift) -> RgbImage {
    let (width, height) = image.dimensions();
    match edit {
        Edit::Resize(scale) => {
            let (w, h) = ((f64::from(width) * scale).round().max(1.0) as u32, (f64::from(height) * scale).round().max(1.0) as u32);
            imageops::resize(image, w, h, FilterType::CatmullRom)
        }
        Edit::Crop(left, top, right, bottom) => {
            let x0 = (f64::from(width) * left).round() as u32;
            let y0 = (f64::from(height) * top).round() as u32;
            let x1 = width - (f64::from(width) * right).round() as u32;
            let y1 = height - (f64::from(height) * bottom).round() as u32;
            imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image()
        }
        Edit::Border(share, colour) => {
            let colour = colour.unwrap_or_else(|| rng.colour().map(|c| c as u8));
            let frame = (f64::from(width.max(height)) * share).round() as u32;
            let mut out = RgbImage::from_pixel(width + 2 * frame, height + 2 * frame, Rgb(colour));
            imageops::replace(&mut out, image, i64::from(frame), i64::from(frame));
            out
        }
        Edit::HueRotate(degrees) => imageops::huerotate(image, degrees),
        Edit::HueShift(degrees) => map_pixels(image, |c| hsv_hue_shift(c, degrees)),
        Edit::SwapRedBlue => map_pixels(image, |[r, g, b]| [b, g, r]),
        Edit::Sepia => map_pixels(image, |[r, g, b]| [0.393 * r + 0.769 * g + 0.189 * b, 0.349 * r + 0.686 * g + 0.168 * b, 0.272 * r + 0.534 * g + 0.131 * b]),
        Edit::Greyscale => map_pixels(image, |[r, g, b]| [0.299 * r + 0.587 * g + 0.114 * b; 3]),
        Edit::Blur(sigma) => imageops::blur(image, sigma),
        Edit::Brightness(factor) => map_pixels(image, |c| c.map(|v| v * factor)),
    }
}

fn encode(image: &RgbImage, encoding: Encoding) -> Vec<u8> {
    let mut bytes = Vec::new();
    let (width, height) = image.dimensions();
    let written = match encoding {
        Encoding::Png => PngEncoder::new(&mut bytes).write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8),
        Encoding::Jpeg(quality) => JpegEncoder::new_with_quality(&mut bytes, quality).write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8),
        Encoding::WebPLossless => WebPEncoder::new_lossless(&mut bytes).write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8),
    };
    written.expect("encoding an in-memory RGB picture cannot fail");
    bytes
}

/// The picture after its trip through an encoder and [`decode`], as the
/// service would receive it.
fn round_trip(image: &RgbImage, encoding: Encoding) -> DecodedAvatar {
    decode(&encode(image, encoding), &AvatarLimits::default()).expect("a picture we encoded decodes")
}

/// One generated picture and all its labelled copies, decoded.
struct EvalPicture {
    kind: PictureKind,
    original: DecodedAvatar,
    copies: Vec<DecodedAvatar>,
}

fn eval_pictures(photos: u64, drawings: u64) -> Vec<EvalPicture> {
    let bases = (0..photos).map(|seed| (PictureKind::Photo, photo(seed))).chain((0..drawings).map(|seed| (PictureKind::Drawing, drawing(seed))));
    bases
        .enumerate()
        .map(|(number, (kind, image))| {
            let mut rng = XorShift::new(0xE0E0 + number as u64);
            let copies = TRANSFORMATIONS
                .iter()
                .map(|transformation| {
                    let edited = transformation.edits.iter().fold(image.clone(), |picture, &edit| apply(&picture, edit, &mut rng));
                    round_trip(&edited, transformation.encoding)
                })
                .collect();
            EvalPicture { kind, original: round_trip(&image, Encoding::Png), copies }
        })
        .collect()
}

/// Found copies out of labelled copies, for one transformation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransformationRecall {
    pub name: &'static str,
    pub copies: u32,
    pub found: u32,
}

/// False alarms among pairs of unrelated pictures of one mix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FalseAlarms {
    pub pairs: &'static str,
    pub compared: u32,
    pub alarms: u32,
}

/// What [`evaluate`] measured; `Display` prints it as a table.
#[derive(Clone, Debug, PartialEq)]
pub struct AvatarEvalReport {
    pub pictures: u32,
    pub photos: u32,
    pub drawings: u32,
    pub per_transformation: Vec<TransformationRecall>,
    /// Unrelated originals against each other, by mix.
    pub false_alarms: Vec<FalseAlarms>,
    /// Every labelled copy against every other picture's original: an
    /// edited upload must not start matching strangers either.
    pub copies_against_strangers: FalseAlarms,
    pub recall: f64,
    pub precision: f64,
    pub false_alarm_rate: f64,
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 { 0.0 } else { f64::from(part) / f64::from(whole) }
}

/// The evaluation's targets: recall at least this ...
pub const EVAL_RECALL_MIN: f64 = 0.95;
/// ... and at most this share of false alarms, among unrelated originals and
/// between copies and strangers alike.
pub const EVAL_FALSE_ALARM_RATE_MAX: f64 = 0.01;

impl AvatarEvalReport {
    /// Whether the measured figures meet [`EVAL_RECALL_MIN`] and
    /// [`EVAL_FALSE_ALARM_RATE_MAX`].
    pub fn meets_targets(&self) -> bool {
        let strangers = &self.copies_against_strangers;
        self.recall >= EVAL_RECALL_MIN && self.false_alarm_rate <= EVAL_FALSE_ALARM_RATE_MAX && ratio(strangers.alarms, strangers.compared) <= EVAL_FALSE_ALARM_RATE_MAX
    }

    fn from_hashes(kinds: &[PictureKind], originals: &[AvatarHash], copies: &[Vec<AvatarHash>], rule: impl Fn(&AvatarHash, &AvatarHash) -> bool) -> AvatarEvalReport {
        let per_transformation: Vec<TransformationRecall> = TRANSFORMATIONS
            .iter()
            .enumerate()
            .map(|(t, transformation)| TransformationRecall {
                name: transformation.name,
                copies: originals.len() as u32,
                found: originals.iter().zip(copies).filter(|(original, copies)| rule(original, &copies[t])).count() as u32,
            })
            .collect();
        let mut false_alarms = ["photo–photo", "drawing–drawing", "photo–drawing"].map(|pairs| FalseAlarms { pairs, compared: 0, alarms: 0 });
        for a in 0..originals.len() {
            for b in a + 1..originals.len() {
                let mix = match (kinds[a], kinds[b]) {
                    (PictureKind::Photo, PictureKind::Photo) => 0,
                    (PictureKind::Drawing, PictureKind::Drawing) => 1,
                    _ => 2,
                };
                false_alarms[mix].compared += 1;
                false_alarms[mix].alarms += u32::from(rule(&originals[a], &originals[b]));
            }
        }
        let mut strangers = FalseAlarms { pairs: "copies–strangers", compared: 0, alarms: 0 };
        for (a, copies_of_a) in copies.iter().enumerate() {
            for copy in copies_of_a {
                for (b, original) in originals.iter().enumerate() {
                    if a != b {
                        strangers.compared += 1;
                        strangers.alarms += u32::from(rule(original, copy));
                    }
                }
            }
        }
        let found: u32 = per_transformation.iter().map(|t| t.found).sum();
        let labelled: u32 = per_transformation.iter().map(|t| t.copies).sum();
        let compared: u32 = false_alarms.iter().map(|f| f.compared).sum();
        let alarms: u32 = false_alarms.iter().map(|f| f.alarms).sum();
        let photos = kinds.iter().filter(|kind| **kind == PictureKind::Photo).count() as u32;
        AvatarEvalReport {
            pictures: originals.len() as u32,
            photos,
            drawings: originals.len() as u32 - photos,
            per_transformation,
            false_alarms: false_alarms.to_vec(),
            copies_against_strangers: strangers,
            recall: ratio(found, labelled),
            precision: ratio(found, found + alarms),
            false_alarm_rate: ratio(alarms, compared),
        }
    }
}

impl fmt::Display for AvatarEvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (photos, drawings) = (self.photos, self.drawings);
        writeln!(f, "Avatar near-copy detection: {} generated pictures ({photos} photos, {drawings} drawings, {EVAL_SIDE} px)", self.pictures)?;
        writeln!(f, "rule: min(luma, lightness) DCT-hash distance <= {NEAR_COPY_DISTANCE_MAX} bits")?;
        writeln!(f)?;
        writeln!(f, "{:<36} {:>6} {:>6} {:>7}", "transformation", "copies", "found", "recall")?;
        for t in &self.per_transformation {
            writeln!(f, "{:<36} {:>6} {:>6} {:>7.3}", t.name, t.copies, t.found, ratio(t.found, t.copies))?;
        }
        writeln!(f)?;
        writeln!(f, "{:<36} {:>6} {:>6} {:>7}", "unrelated pairs", "pairs", "alarms", "rate")?;
        for a in self.false_alarms.iter().chain([&self.copies_against_strangers]) {
            writeln!(f, "{:<36} {:>6} {:>6} {:>7.4}", a.pairs, a.compared, a.alarms, ratio(a.alarms, a.compared))?;
        }
        writeln!(f)?;
        writeln!(f, "recall {:.3}   precision {:.3}   false-alarm rate {:.4} (unrelated originals)", self.recall, self.precision, self.false_alarm_rate)
    }
}

/// Generates the labelled evaluation set (photos and drawings, each with
/// every transformation in [`TRANSFORMATIONS`] round-tripped through its
/// encoder and [`decode`]) and measures [`near_copy`] on it: recall per
/// transformation, overall recall and precision, and false alarms among all
/// pairs of unrelated pictures. Deterministic; a few seconds in a debug build.
pub fn evaluate() -> AvatarEvalReport {
    evaluate_on(EVAL_PHOTOS, EVAL_DRAWINGS)
}

/// [`evaluate`] on the first `photos` photos and `drawings` drawings.
fn evaluate_on(photos: u64, drawings: u64) -> AvatarEvalReport {
    let pictures = eval_pictures(photos, drawings);
    let kinds: Vec<PictureKind> = pictures.iter().map(|p| p.kind).collect();
    let originals: Vec<AvatarHash> = pictures.iter().map(|p| hash(&p.original)).collect();
    let copies: Vec<Vec<AvatarHash>> = pictures.iter().map(|p| p.copies.iter().map(hash).collect()).collect();
    AvatarEvalReport::from_hashes(&kinds, &originals, &copies, near_copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pins::fnv;
    use proptest::prelude::*;

    fn encoded_photo(seed: u64, encoding: Encoding) -> Vec<u8> {
        encode(&photo(seed), encoding)
    }

    /// CRC-32 (IEEE), for hand-made PNG chunks.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = u32::MAX;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    /// A PNG whose header claims `width` × `height` but whose data is that
    /// of a tiny picture: a decompression bomb's header.
    fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = encode(&RgbImage::from_pixel(4, 4, Rgb([9, 9, 9])), Encoding::Png);
        // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4) ...
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// A JPEG whose frame header claims `width` × `height`.
    fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = encode(&RgbImage::from_pixel(16, 16, Rgb([9, 99, 199])), Encoding::Jpeg(80));
        let frame = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline JPEG has a SOF0 marker");
        // FFC0, length (2), precision (1), height (2), width (2).
        bytes[frame + 5..frame + 7].copy_from_slice(&height.to_be_bytes());
        bytes[frame + 7..frame + 9].copy_from_slice(&width.to_be_bytes());
        bytes
    }

    #[test]
    fn refusals_in_order_of_the_checks() {
        let limits = AvatarLimits::default();
        let png = encoded_photo(1, Encoding::Png);
        let cases: Vec<(&str, Vec<u8>, AvatarLimits, AvatarError)> = vec![
            ("over the byte limit", png.clone(), AvatarLimits { max_bytes: 100, ..limits }, AvatarError::TooManyBytes { bytes: png.len(), max: 100 }),
            ("empty", Vec::new(), limits, AvatarError::Format),
            ("text", b"hello, I am not a picture".to_vec(), limits, AvatarError::Format),
            ("GIF", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(), limits, AvatarError::Format),
            ("SVG", b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(), limits, AvatarError::Format),
            ("RIFF but not WebP", b"RIFF\x04\x00\x00\x00WAVE".to_vec(), limits, AvatarError::Format),
            ("half a PNG signature", PNG_MAGIC[..4].to_vec(), limits, AvatarError::Corrupt),
            ("PNG signature alone", PNG_MAGIC.to_vec(), limits, AvatarError::Corrupt),
            ("PNG cut in half", png[..png.len() / 2].to_vec(), limits, AvatarError::Corrupt),
            ("JPEG cut in half", encoded_photo(1, Encoding::Jpeg(80))[..600].to_vec(), limits, AvatarError::Corrupt),
            ("WebP cut short", encoded_photo(1, Encoding::WebPLossless)[..40].to_vec(), limits, AvatarError::Corrupt),
            ("over the pixel limit", png.clone(), AvatarLimits { max_pixels: 96 * 96 - 1, ..limits }, AvatarError::TooLarge { pixels: 96 * 96, max: 96 * 96 - 1 }),
            ("PNG bomb", png_claiming(100_000, 100_000), limits, AvatarError::TooLarge { pixels: 10_000_000_000, max: DEFAULT_MAX_PIXELS }),
            ("JPEG bomb", jpeg_claiming(65_000, 65_000), limits, AvatarError::TooLarge { pixels: 4_225_000_000, max: DEFAULT_MAX_PIXELS }),
            ("PNG without pixels", png_claiming(0, 5), limits, AvatarError::Corrupt),
        ];
        for (name, bytes, limits, expected) in cases {
            assert_eq!(decode(&bytes, &limits).err(), Some(expected), "{name}");
        }
    }

    /// What the decoder may allocate: 8 bytes a pixel (16-bit RGBA) plus 32
    /// MiB for the decoders' own buffers, and, once the header has been
    /// read, sides of at most the pixel limit.
    #[test]
    fn the_decoder_runs_under_an_allocation_and_a_side_limit() {
        let limits = AvatarLimits { max_bytes: 1000, max_pixels: 1_000_000 };
        assert_eq!(limits.max_alloc_bytes(), 8_000_000 + 33_554_432);
        assert_eq!(AvatarLimits { max_bytes: 1, max_pixels: u64::MAX }.max_alloc_bytes(), u64::MAX, "saturates");
        let header = limits.image_limits(false);
        assert_eq!((header.max_alloc, header.max_image_width, header.max_image_height), (Some(41_554_432), None, None));
        let pixels = limits.image_limits(true);
        assert_eq!((pixels.max_alloc, pixels.max_image_width, pixels.max_image_height), (Some(41_554_432), Some(1_000_000), Some(1_000_000)));
        let huge = AvatarLimits { max_bytes: 1, max_pixels: u64::MAX }.image_limits(true);
        assert_eq!(huge.max_image_width, Some(u32::MAX));
    }

    #[test]
    fn each_format_is_served_as_its_media_type() {
        let types = [AvatarFormat::Png, AvatarFormat::Jpeg, AvatarFormat::WebP].map(AvatarFormat::media_type);
        assert_eq!(types, ["image/png", "image/jpeg", "image/webp"]);
    }

    /// A file cut inside its signature is corrupt (one of ours, damaged);
    /// anything else that is not sniffed is another format. A complete
    /// signature is not a truncated one.
    #[test]
    fn a_signature_cut_short_is_told_from_another_format() {
        let truncated: &[&[u8]] = &[b"\x89", b"\x89PNG\r\n\x1a", b"\xff", b"\xff\xd8", b"R", b"RIF", b"RIFF", b"RIFF\x00\x00\x00\x00", b"RIFF\x01\x02\x03\x04W", b"RIFF\x00\x00\x00\x00WEB"];
        for bytes in truncated {
            assert!(AvatarFormat::truncated_signature(bytes), "{bytes:?}");
        }
        let not: &[&[u8]] = &[
            b"",
            b"\x89PNX",
            b"\xff\xd8\x00",
            b"RIFX",
            b"XIFF",
            b"RIFF\x00\x00\x00\x00WA",
            b"RIFF\x00\x00\x00\x00WEBX",
            b"RIFF\x00\x00\x00\x00WEBP",
            b"RIFF\x00\x00\x00\x00WEBPVP8",
            b"GIF8",
            b"\x89PNG\r\n\x1a\nmore",
        ];
        for bytes in not {
            assert!(!AvatarFormat::truncated_signature(bytes), "{bytes:?}");
        }
    }

    /// The documented defaults: 5 MiB a file, 4096 × 4096 pixels, the byte
    /// limit checked before anything else.
    #[test]
    fn the_default_limits_are_5_mib_and_4096_squared() {
        let limits = AvatarLimits::default();
        let over = vec![0u8; 5 * 1024 * 1024 + 1];
        assert_eq!(decode(&over, &limits).err(), Some(AvatarError::TooManyBytes { bytes: 5_242_881, max: 5_242_880 }));
        assert_eq!(decode(&over[1..], &limits).err(), Some(AvatarError::Format), "5 MiB exactly passes the byte check");
        assert_eq!(limits.max_pixels, 4096 * 4096);
    }

    #[test]
    fn decodes_each_format_with_its_dimensions() {
        let image = imageops::resize(&photo(2), 80, 60, FilterType::Triangle);
        for (encoding, format) in [(Encoding::Png, AvatarFormat::Png), (Encoding::Jpeg(85), AvatarFormat::Jpeg), (Encoding::WebPLossless, AvatarFormat::WebP)] {
            let decoded = decode(&encode(&image, encoding), &AvatarLimits::default()).expect("a well-formed picture decodes");
            assert_eq!((decoded.format(), decoded.width(), decoded.height()), (format, 80, 60));
        }
        let exactly_at_the_limit = AvatarLimits { max_pixels: 80 * 60, ..AvatarLimits::default() };
        assert!(decode(&encode(&image, Encoding::Png), &exactly_at_the_limit).is_ok());
    }

    #[test]
    fn transparency_is_flattened_onto_white_and_big_pictures_shrink() {
        let mut rgba = image::RgbaImage::from_pixel(1200, 300, image::Rgba([0, 0, 0, 0]));
        for x in 0..600 {
            for y in 0..300 {
                rgba.put_pixel(x, y, image::Rgba([200, 0, 0, 255]));
            }
        }
        let mut bytes = Vec::new();
        PngEncoder::new(&mut bytes).write_image(rgba.as_raw(), 1200, 300, ExtendedColorType::Rgba8).expect("encodes");
        let decoded = decode(&bytes, &AvatarLimits::default()).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (1200, 300));
        assert_eq!(decoded.working.dimensions(), (400, 100), "at most WORKING_SIDE_MAX a side");
        assert_eq!(decoded.working.get_pixel(10, 10).0, [200, 0, 0]);
        assert_eq!(decoded.working.get_pixel(390, 10).0, [255, 255, 255]);
    }

    #[test]
    fn a_flat_picture_is_a_near_copy_of_nothing() {
        let flat = round_trip(&RgbImage::from_pixel(64, 64, Rgb([30, 140, 200])), Encoding::Png);
        let flat_hash = hash(&flat);
        assert!(flat_hash.is_flat());
        assert!(!near_copy(&flat_hash, &flat_hash));
        let framed = round_trip(&apply(&photo(3), Edit::Border(0.1, Some([30, 140, 200])), &mut XorShift::new(1)), Encoding::Png);
        assert!(!hash(&framed).is_flat(), "a frame is trimmed, the picture inside it is hashed");
    }

    #[test]
    fn a_framed_picture_is_trimmed_to_the_picture() {
        let base = drawing(5);
        let framed = apply(&apply(&base, Edit::Border(0.1, Some([10, 200, 10])), &mut XorShift::new(1)), Edit::Border(0.05, Some([0, 0, 0])), &mut XorShift::new(1));
        let (base_rect, framed_rect) = (trim_uniform_border(&base), trim_uniform_border(&framed));
        let inset = framed.width() - base.width();
        assert_eq!((framed_rect.width(), framed_rect.height()), (base_rect.width(), base_rect.height()), "{base_rect:?} in {inset} px of frames: {framed_rect:?}");
    }

    /// Every labelled transformation, on two photos and two drawings that
    /// are not in the evaluation set: each copy is nearer to its original
    /// than to the other three pictures, and at least three of the four
    /// copies are near copies. The 8% crop from two sides is the known weak
    /// spot (recall about 0.5 in the evaluation): there two of four.
    #[test]
    fn each_transformation_keeps_a_picture_near_its_original() {
        let bases = [photo(1001), photo(1002), drawing(1001), drawing(1002)];
        let originals: Vec<AvatarHash> = bases.iter().map(|b| hash(&round_trip(b, Encoding::Png))).collect();
        for transformation in TRANSFORMATIONS {
            let mut found = 0;
            let mut distances = Vec::new();
            for (number, base) in bases.iter().enumerate() {
                let mut rng = XorShift::new(number as u64);
                let edited = transformation.edits.iter().fold(base.clone(), |picture, &edit| apply(&picture, edit, &mut rng));
                let copy = hash(&round_trip(&edited, transformation.encoding));
                let own = distance(&originals[number], &copy);
                let nearest_stranger = originals.iter().enumerate().filter(|(other, _)| *other != number).map(|(_, o)| distance(o, &copy)).min().unwrap_or(64);
                assert!(own < nearest_stranger, "{}: picture {number} is {own} from its original, {nearest_stranger} from a stranger", transformation.name);
                found += usize::from(near_copy(&originals[number], &copy));
                distances.push(own);
            }
            let expected = if transformation.name == "crop 8% left and top" { 2 } else { 3 };
            assert!(found >= expected, "{}: {found} of 4 found, distances {distances:?}", transformation.name);
        }
    }

    #[test]
    fn unrelated_pictures_are_not_near_copies() {
        let hashes: Vec<AvatarHash> = (2000..2006).map(photo).chain((2000..2006).map(drawing)).map(|p| hash(&round_trip(&p, Encoding::Png))).collect();
        for a in 0..hashes.len() {
            for b in a + 1..hashes.len() {
                assert!(!near_copy(&hashes[a], &hashes[b]), "pictures {a} and {b}: {}", distance(&hashes[a], &hashes[b]));
            }
        }
    }

    /// The figures the issue asks for, on the whole generated set: recall at
    /// least 0.95 and at most 1% false alarms. Prints the table
    /// (`cargo test -p recourse-domain evaluation -- --nocapture`).
    #[test]
    fn evaluation_meets_the_targets() {
        let report = evaluate();
        println!("{report}");
        assert_eq!((report.pictures, report.photos, report.drawings), ((EVAL_PHOTOS + EVAL_DRAWINGS) as u32, EVAL_PHOTOS as u32, EVAL_DRAWINGS as u32));
        assert!(report.meets_targets(), "{report}");
    }

    #[test]
    fn the_index_finds_copies_by_either_hash() {
        let mut index = AvatarIndex::new();
        assert!(index.is_empty());
        let original = hash(&round_trip(&photo(3000), Encoding::Png));
        index.insert("contact", original);
        index.insert("stranger", hash(&round_trip(&photo(3001), Encoding::Png)));
        index.insert("blank", AvatarHash::FLAT);
        assert_eq!((index.len(), index.is_empty()), (2, false), "flat pictures are not indexed");
        let mut rng = XorShift::new(1);
        let by_luma = hash(&round_trip(&apply(&photo(3000), Edit::Greyscale, &mut rng), Encoding::Jpeg(75)));
        let by_lightness = hash(&round_trip(&apply(&photo(3000), Edit::SwapRedBlue, &mut rng), Encoding::Png));
        for copy in [original, by_luma, by_lightness] {
            assert_eq!(index.near_copies(&copy), vec![("contact", distance(&original, &copy))]);
        }
        assert!(index.near_copies(&AvatarHash::FLAT).is_empty());
        let stored: [u64; 2] = by_luma.into();
        assert_eq!(AvatarHash::from(stored), by_luma, "the stored form round-trips");
        index.remove(&"contact");
        assert!(index.near_copies(&original).is_empty());
        assert_eq!(index.len(), 1);
    }

    /// A real number to the millionth, as bytes for [`fnv`]: the pins hold
    /// whatever the last bit of a libm `cos`.
    fn micro(value: f64) -> [u8; 8] {
        ((value * 1e6).round() as i64).to_le_bytes()
    }

    fn hash_bytes(hash: AvatarHash) -> impl Iterator<Item = u8> {
        hash.luma.to_le_bytes().into_iter().chain(hash.lightness.to_le_bytes())
    }

    fn rect_bytes(rect: Rect) -> impl Iterator<Item = u8> {
        [rect.x0, rect.y0, rect.x1, rect.y1].into_iter().flat_map(u32::to_le_bytes)
    }

    /// Every step from an upload to its hash, and every generator of the
    /// evaluation, as digests of what it computes on fixed pictures.
    ///
    /// Why pin them: stored avatar hashes (`avatar_hashes`) are compared with
    /// the hashes of new uploads, so the hash is a stored format — a change
    /// to the working copy, the trimming, the resampling or the DCT must be
    /// deliberate and come with a re-hash of the stored ones; and the
    /// evaluation's published figures (README, `admin eval-detectors`) hold
    /// only for the pictures they were measured on. A deliberate change
    /// updates the table from the failure message, which prints it whole.
    #[test]
    fn every_step_of_the_hash_and_of_the_evaluation_is_pinned() {
        let mut pins: Vec<(String, u64)> = Vec::new();
        pins.push(("photos 0..8".into(), fnv((0..8).flat_map(|seed| photo(seed).into_raw()))));
        pins.push(("drawings 0..40".into(), fnv((0..EVAL_DRAWINGS).flat_map(|seed| drawing(seed).into_raw()))));
        let mut rng = XorShift::new(9);
        pins.push(("xorshift".into(), fnv((0..64).flat_map(|_| [rng.next_u64().to_le_bytes(), micro(rng.range(-3.0, 5.0)), u64::from(rng.below(7)).to_le_bytes()]).flatten())));
        // The edits, then each transformation's copy as the service hashes it.
        let bases = [photo(1), drawing(1), drawing(3)];
        for transformation in TRANSFORMATIONS {
            let mut rng = XorShift::new(17);
            let digest = fnv(bases.iter().flat_map(|base| {
                let edited = transformation.edits.iter().fold(base.clone(), |picture, &edit| apply(&picture, edit, &mut rng));
                let copy = hash(&round_trip(&edited, transformation.encoding));
                let dimensions = [edited.width(), edited.height()].map(u32::to_le_bytes);
                edited.into_raw().into_iter().chain(dimensions.into_iter().flatten()).chain(hash_bytes(copy))
            }));
            pins.push((format!("copy: {}", transformation.name), digest));
        }
        let greys_and_colours = (0..=10).flat_map(|r| (0..=10).flat_map(move |g| (0..=10).map(move |b| [r, g, b].map(|c| f64::from(c) * 25.5))));
        pins.push((
            "hsv_hue_shift".into(),
            fnv(greys_and_colours.flat_map(|colour| [-90.0, 45.0, 180.0, 300.0].into_iter().flat_map(move |degrees| hsv_hue_shift(colour, degrees).map(micro)).flatten())),
        ));
        // Working copies: opaque and shrunk; transparent; transparent and shrunk.
        let big = imageops::resize(&photo(4), 1100, 700, FilterType::Triangle);
        let mut clear = image::RgbaImage::new(300, 200);
        for (x, y, pixel) in clear.enumerate_pixels_mut() {
            *pixel = image::Rgba([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8, ((x + 2 * y) % 256) as u8]);
        }
        let big_clear = imageops::resize(&clear, 1030, 520, FilterType::Nearest);
        let png_rgba = |image: &image::RgbaImage| {
            let mut bytes = Vec::new();
            PngEncoder::new(&mut bytes).write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgba8).expect("encodes");
            decode(&bytes, &AvatarLimits::default()).expect("decodes")
        };
        for (name, decoded) in [("opaque 1100x700", round_trip(&big, Encoding::Png)), ("transparent 300x200", png_rgba(&clear)), ("transparent 1030x520", png_rgba(&big_clear))] {
            let dimensions = [decoded.working.width(), decoded.working.height()].map(u32::to_le_bytes);
            pins.push((format!("working copy {name}"), fnv(decoded.working.into_raw().into_iter().chain(dimensions.into_iter().flatten()))));
        }
        // Trimming: the evaluation's drawings, and photos and drawings in frames.
        let mut rng = XorShift::new(5);
        let framed = (0..6).map(|seed| apply(&if seed % 2 == 0 { photo(seed) } else { drawing(seed) }, Edit::Border(0.04 * seed as f64, None), &mut rng));
        pins.push(("trim".into(), fnv((0..EVAL_DRAWINGS).map(drawing).chain(framed).flat_map(|image| rect_bytes(trim_uniform_border(&image))))));
        // Resampling: whole, trimmed and odd rectangles, on two grids.
        let sample_of = photo(6);
        let (luma, lightness) = SummedArea::luma_and_lightness(&sample_of);
        let rects = [Rect::whole(&sample_of), Rect { x0: 3, y0: 5, x1: 90, y1: 61 }, Rect { x0: 0, y0: 17, x1: 33, y1: 96 }];
        let mut samples = Vec::new();
        for rect in rects {
            for (columns, rows) in [(32, 32), (7, 5)] {
                samples.extend(luma.area_sample(rect, columns, rows));
                samples.extend(lightness.area_sample(rect, columns, rows));
            }
        }
        pins.push(("area samples".into(), fnv(samples.into_iter().flat_map(micro))));
        let fractions = [(0.0, 0.0), (0.5, 0.25), (95.5, 3.75), (96.0, 96.0), (12.2, 96.0), (96.0, 40.9)];
        pins.push(("summed areas".into(), fnv(fractions.into_iter().flat_map(|(x, y)| [luma.at_fraction(x, y), lightness.at_fraction(x, y)]).flat_map(micro))));
        // The DCT hash of grids, then whole hashes.
        let grids = [luma.area_sample(Rect::whole(&sample_of), GRID_SIDE, GRID_SIDE), (0..GRID_SIDE * GRID_SIDE).map(|i| ((i * 37) % 101) as f64).collect()];
        pins.push(("phash".into(), fnv(grids.iter().flat_map(|grid| phash(grid).to_le_bytes()))));
        let pictures = (0..8).map(photo).chain((0..8).map(drawing));
        pins.push(("hashes".into(), fnv(pictures.flat_map(|picture| hash_bytes(hash(&round_trip(&picture, Encoding::Png)))))));
        // The labelled set itself (its first photo and drawing): the originals and every copy.
        let set = eval_pictures(1, 1);
        pins.push((
            "evaluation set 1+1".into(),
            fnv(set
                .iter()
                .flat_map(|p| std::iter::once(&p.original).chain(&p.copies))
                .flat_map(|decoded| hash_bytes(hash(decoded)).chain(decoded.working.as_raw().iter().copied()).collect::<Vec<u8>>())),
        ));

        let expected: &[(&str, u64)] = PINNED;
        let actual: Vec<(&str, u64)> = pins.iter().map(|(name, digest)| (name.as_str(), *digest)).collect();
        if actual != expected {
            let table: String = pins.iter().map(|(name, digest)| format!("    ({name:?}, 0x{digest:016X}),\n")).collect();
            panic!("a pinned step changed; if that is deliberate (and stored hashes are re-hashed), PINNED becomes:\n{table}");
        }
    }

    const PINNED: &[(&str, u64)] = &[
        ("photos 0..8", 0x10CF1DA3A7CCB5E7),
        ("drawings 0..40", 0x36D79FE2C2DC7894),
        ("xorshift", 0x2A2C4AFDF41082D7),
        ("copy: re-encode JPEG q80", 0xE3A4EC0081EFB104),
        ("copy: re-encode JPEG q60", 0x4F4707E29258C43B),
        ("copy: re-encode WebP", 0x2DB6A4ED14376C46),
        ("copy: resize 50%", 0xEDFB02DCDBA63D40),
        ("copy: resize 150%", 0xA9B61FC5587940BC),
        ("copy: crop 5% each side", 0x8FC087A472082074),
        ("copy: crop 8% left and top", 0x51FFA404E8F93087),
        ("copy: crop 8% right", 0x0A5AF0063FDD9D98),
        ("copy: border 5% white", 0x40EC90AD19B6A81A),
        ("copy: border 8% black", 0xBA6DA36C55FCB866),
        ("copy: border 10% colour", 0xE3DC6980130B2F6E),
        ("copy: hue-rotate 90°", 0x742744F7A57BDA86),
        ("copy: hue shift 180° (HSV)", 0xE331EE26ACD5CF7A),
        ("copy: swap red and blue", 0xC997A485E1C69D3E),
        ("copy: sepia", 0x18E79649332BD30B),
        ("copy: greyscale", 0xA0EBD90A824496F6),
        ("copy: blur σ1", 0x200AEDFA923BDD1D),
        ("copy: blur σ1.5", 0xB3AFB4A57047F82A),
        ("copy: brighten 20%", 0x8E07F3C52F4B8DF4),
        ("copy: darken 20%", 0x2FF2935D98A55D8D),
        ("copy: resize 50% + JPEG q70", 0x6B48C2F73643B621),
        ("copy: border 6% + JPEG q75", 0xE78E9C10157C9B87),
        ("copy: crop 4% + brighten 10% + JPEG q70", 0xC1301E8D4DB0396F),
        ("copy: sepia + resize 75% + JPEG q80", 0x1E73E68F84551ED1),
        ("copy: hue 45° + border 5% + WebP", 0xFD470A222A82FAA9),
        ("copy: blur σ1 + darken 15% + JPEG q70", 0xC2F2A136FA9C09FE),
        ("copy: resize 150% + crop 5% + JPEG q65", 0x362C7D45BFE971FF),
        ("hsv_hue_shift", 0x0F5EF140E051EEBC),
        ("working copy opaque 1100x700", 0x3A2AAA09BDEEA0E4),
        ("working copy transparent 300x200", 0x03C451209E30C026),
        ("working copy transparent 1030x520", 0xE11ADF97D44C2F41),
        ("trim", 0x5530E11C0BC72865),
        ("area samples", 0xC3149E51F2E0B05C),
        ("summed areas", 0x398A6646E90D7882),
        ("phash", 0xD1DC24DBF5D7805D),
        ("hashes", 0xF82668322DD882DB),
        ("evaluation set 1+1", 0xB5C9637A82E06405),
    ];

    #[test]
    fn a_blob_covers_the_pixels_within_its_reach() {
        assert_eq!(pixel_span(50.0, 10.5, 96), (39, 61));
        assert_eq!(pixel_span(5.0, 10.0, 96), (0, 15));
        assert_eq!(pixel_span(90.0, 10.0, 96), (80, 96));
    }

    #[test]
    fn standard_deviation_is_the_population_one() {
        assert_eq!(standard_deviation(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), 2.0);
        assert_eq!(standard_deviation(&[3.0; 5]), 0.0);
        // Far from zero, where `Σv² − n·mean²` loses every digit: 2^52 ± 1.
        let far = 4_503_599_627_370_496.0;
        assert_eq!(standard_deviation(&[far, far + 2.0]), 1.0);
    }

    /// Coefficients equal to the median are 0 bits: a grid without detail
    /// (all coefficients 0) hashes to 0, a hash no real picture has.
    #[test]
    fn phash_sets_the_bits_strictly_above_the_median() {
        assert_eq!(bits_above_median(&[7.0; 64]), 0, "all equal to the median");
        // 31 × -1, two 0s (the middle two: the median is 0), 31 × 1.
        let mut values = [1.0; 64];
        values[..32].fill(-1.0);
        (values[0], values[63]) = (0.0, 0.0);
        assert_eq!(bits_above_median(&values), 0x0000_0000_FFFF_FFFE, "equal to the median is not above it");
        values[63] = 5.0;
        assert_eq!(bits_above_median(&values), 0x0000_0000_FFFF_FFFF);
    }

    /// A grid is flat below a standard deviation of 2 (on 0–255), not at 2.
    #[test]
    fn a_grid_is_flat_below_two_grey_levels_of_spread() {
        let spread = |half: f64| -> Vec<f64> { (0..GRID_SIDE * GRID_SIDE).map(|i| if i % 2 == 0 { 100.0 - half } else { 100.0 + half }).collect() };
        assert!(!without_detail(&spread(2.0)));
        assert!(without_detail(&spread(1.99)));
        assert!(without_detail(&spread(0.0)));
    }

    /// A picture is flat only when both grey levels are: one that only a
    /// hue change tells apart (equal luma, different lightness), or only a
    /// brightness change (equal lightness, different luma), is hashed.
    #[test]
    fn a_picture_is_flat_only_when_both_grey_levels_are() {
        let halves = |left: [u8; 3], right: [u8; 3]| {
            let working = RgbImage::from_fn(64, 64, |x, _| Rgb(if x < 32 { left } else { right }));
            DecodedAvatar { format: AvatarFormat::Png, width: 64, height: 64, working }
        };
        // Magenta and grey 73: luma 72.6 and 73; lightness 127.5 and 73.
        assert!(!hash(&halves([255, 0, 255], [73, 73, 73])).is_flat());
        // Red and green: lightness 127.5 both; luma 54.2 and 182.4.
        assert!(!hash(&halves([255, 0, 0], [0, 255, 0])).is_flat());
        assert!(hash(&halves([90, 90, 90], [91, 91, 91])).is_flat());
    }

    /// Over a decoder's limit is "too large"; any other decoding error is a
    /// corrupt picture.
    #[test]
    fn decoder_errors_become_refusals() {
        use image::error::{DecodingError, ImageFormatHint, LimitError, LimitErrorKind};
        let too_large = AvatarError::TooLarge { pixels: 4, max: 3 };
        let over = ImageError::Limits(LimitError::from_kind(LimitErrorKind::InsufficientMemory));
        assert_eq!(refusal_of(over, too_large.clone()), too_large);
        let broken = ImageError::Decoding(DecodingError::new(ImageFormatHint::Unknown, "broken"));
        assert_eq!(refusal_of(broken, too_large), AvatarError::Corrupt);
    }

    /// The report's arithmetic on hashes made by hand: which pairs are
    /// compared, which count as found and as alarms, and the ratios.
    #[test]
    fn the_report_counts_pairs_and_copies() {
        let h = |luma: u64| AvatarHash { luma, lightness: luma };
        let kinds = [PictureKind::Photo, PictureKind::Photo, PictureKind::Drawing];
        let originals = [h(0b1), h(0b11), h(0xFFFF_0000)];
        // One copy per transformation: exact for picture 0; for picture 1 a
        // copy equal to picture 0's original; picture 2's copies far away.
        let copies: Vec<Vec<AvatarHash>> = vec![vec![h(0b1); TRANSFORMATIONS.len()], vec![h(0b1); TRANSFORMATIONS.len()], vec![h(!0xFFFF_0000); TRANSFORMATIONS.len()]];
        // The rule: equal hashes, or 0b1 against 0b11.
        let rule = |a: &AvatarHash, b: &AvatarHash| a == b || (a.luma | b.luma) == 0b11 && (a.luma & b.luma) == 0b1;
        let report = AvatarEvalReport::from_hashes(&kinds, &originals, &copies, rule);
        assert_eq!((report.pictures, report.photos, report.drawings), (3, 2, 1));
        let transformations = TRANSFORMATIONS.len() as u32;
        assert!(report.per_transformation.iter().all(|t| t.copies == 3 && t.found == 2), "{:?}", report.per_transformation);
        assert_eq!(report.per_transformation[4].name, TRANSFORMATIONS[4].name);
        let by_mix: Vec<(&str, u32, u32)> = report.false_alarms.iter().map(|f| (f.pairs, f.compared, f.alarms)).collect();
        assert_eq!(by_mix, vec![("photo–photo", 1, 1), ("drawing–drawing", 0, 0), ("photo–drawing", 2, 0)]);
        // Copies of 0 against 1 (alarm each), of 1 against 0 (alarm each),
        // the rest are not alarms: 2 strangers for each of 3 × T copies.
        assert_eq!(report.copies_against_strangers, FalseAlarms { pairs: "copies–strangers", compared: 6 * transformations, alarms: 2 * transformations });
        assert_eq!(report.recall, 2.0 / 3.0);
        assert_eq!(report.precision, f64::from(2 * transformations) / f64::from(2 * transformations + 1));
        assert_eq!(report.false_alarm_rate, 1.0 / 3.0);
        assert!(!report.meets_targets());
        let text = report.to_string();
        assert!(text.starts_with("Avatar near-copy detection: 3 generated pictures (2 photos, 1 drawings, 96 px)\n"), "{text}");
        assert!(text.contains(&format!("{:<36} {:>6} {:>6} {:>7.3}\n", TRANSFORMATIONS[0].name, 3, 2, 2.0 / 3.0)), "{text}");
        assert!(text.contains(&format!("{:<36} {:>6} {:>6} {:>7.4}\n", "photo–photo", 1, 1, 1.0)), "{text}");
        assert!(text.ends_with(&format!("recall {:.3}   precision {:.3}   false-alarm rate {:.4} (unrelated originals)\n", 2.0 / 3.0, report.precision, 1.0 / 3.0)), "{text}");
        assert_eq!(ratio(0, 0), 0.0);
        let mostly_drawings = AvatarEvalReport::from_hashes(&[PictureKind::Photo, PictureKind::Drawing, PictureKind::Drawing], &originals, &copies, rule);
        assert_eq!((mostly_drawings.pictures, mostly_drawings.photos, mostly_drawings.drawings), (3, 1, 2));
    }

    /// The targets, at their edges.
    #[test]
    fn the_targets_are_recall_95_and_one_percent_alarms() {
        let report = |found: u32, alarms: u32, stranger_alarms: u32| AvatarEvalReport {
            pictures: 0,
            photos: 0,
            drawings: 0,
            per_transformation: Vec::new(),
            false_alarms: Vec::new(),
            copies_against_strangers: FalseAlarms { pairs: "copies–strangers", compared: 100, alarms: stranger_alarms },
            recall: f64::from(found) / 100.0,
            precision: 1.0,
            false_alarm_rate: f64::from(alarms) / 100.0,
        };
        assert!(report(95, 1, 1).meets_targets());
        assert!(!report(94, 1, 1).meets_targets());
        assert!(!report(95, 2, 1).meets_targets());
        assert!(!report(95, 1, 2).meets_targets());
    }

    /// The evaluation on its first two photos and drawings, exactly: the
    /// generation of the set, its labels and the pairing, quickly.
    #[test]
    fn a_small_evaluation_gives_its_exact_figures() {
        let report = evaluate_on(2, 2);
        assert_eq!((report.pictures, report.photos, report.drawings), (4, 2, 2));
        let found: Vec<u32> = report.per_transformation.iter().map(|t| t.found).collect();
        let pairs: Vec<(u32, u32)> = report.false_alarms.iter().chain([&report.copies_against_strangers]).map(|f| (f.compared, f.alarms)).collect();
        assert_eq!((found, pairs), (SMALL_EVALUATION_FOUND.to_vec(), vec![(1, 0), (1, 0), (4, 0), (4 * 3 * TRANSFORMATIONS.len() as u32, 0)]));
    }

    /// Copies found per transformation (of 4): the weak crops and the
    /// combined edits miss one or two on so few pictures.
    const SMALL_EVALUATION_FOUND: &[u32] = &[4, 4, 4, 4, 4, 3, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 4, 4, 4, 3];

    fn arbitrary_avatar_bytes() -> impl Strategy<Value = Vec<u8>> {
        let tail = proptest::collection::vec(any::<u8>(), 0..600);
        prop_oneof![
            tail.clone(),
            tail.clone().prop_map(|t| [PNG_MAGIC, &t].concat()),
            tail.clone().prop_map(|t| [JPEG_MAGIC, &t].concat()),
            tail.prop_map(|t| [b"RIFF\x00\x10\x00\x00WEBP".as_slice(), &t].concat()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// Whatever the bytes (random, or behind each format's signature),
        /// decode answers instead of panicking.
        #[test]
        fn any_bytes_decode_or_are_refused(bytes in arbitrary_avatar_bytes()) {
            let _ = decode(&bytes, &AvatarLimits::default());
        }

        /// Real pictures, cut short or with bytes overwritten: decode answers,
        /// and a cut-short picture is never accepted as a different format.
        #[test]
        fn damaged_pictures_decode_or_are_refused(
            encoding_index in 0usize..3,
            cut_per_mille in 0usize..1000,
            damage in proptest::collection::vec((0usize..1000, any::<u8>()), 0..6),
        ) {
            let encoding = [Encoding::Png, Encoding::Jpeg(70), Encoding::WebPLossless][encoding_index];
            let whole = encode(&imageops::resize(&photo(7), 40, 40, FilterType::Triangle), encoding);
            let mut bytes = whole[..whole.len() * cut_per_mille / 1000].to_vec();
            if let Ok(decoded) = decode(&bytes, &AvatarLimits::default()) {
                prop_assert!(decoded.width() <= 40 && decoded.height() <= 40);
            }
            for (at_per_mille, value) in damage {
                if !bytes.is_empty() {
                    let at = bytes.len() * at_per_mille / 1000;
                    bytes[at] = value;
                }
            }
            let _ = decode(&bytes, &AvatarLimits::default());
        }

        /// A picture is a near copy of itself, at distance 0, whatever it shows.
        #[test]
        fn a_picture_is_a_near_copy_of_itself(seed in 0u64..1_000_000, is_photo in any::<bool>()) {
            let picture = if is_photo { photo(seed) } else { drawing(seed) };
            let first = hash(&round_trip(&picture, Encoding::Png));
            let second = hash(&round_trip(&picture, Encoding::WebPLossless));
            prop_assert_eq!(first, second);
            prop_assert_eq!(distance(&first, &second), 0);
            prop_assert!(first.is_flat() || near_copy(&first, &second));
        }
    }
}
