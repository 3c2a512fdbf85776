//! A small document layout for the evidence PDFs: headings, paragraphs and
//! key–value lines on A4 pages, Chinese and English mixed, with the CJK font
//! embedded (krilla subsets it to the glyphs used). krilla draws lines; this
//! module breaks them: Latin words stay whole, a line may break after any
//! Chinese character, Chinese closing punctuation never starts a line and
//! opening punctuation never ends one, and an over-long token (an id, a
//! hash) is broken by character. Layout comes first, so the footer knows
//! the page count. Output is PDF/A-2b, for archiving.

use krilla::configure::{Configuration, Validator};
use krilla::geom::Point;
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};
use krilla::{Document, SerializeSettings};

/// WenQuanYi Micro Hei cut to GBK (Apache-2.0; `assets/NOTICE.md`, `scripts/make-font-subset`).
static FONT: &[u8] = include_bytes!("../assets/fonts/wqy-microhei-gbk.ttf");

const PAGE_W: f32 = 595.28; // A4, points
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.0;
const KEY_COL: f32 = 150.0;

/// A positioned line; `y` is the baseline measured from the top (krilla's y axis points down).
struct Line {
    x: f32,
    y: f32,
    size: f32,
    text: String,
}

pub struct PdfDocument {
    face: ttf_parser::Face<'static>,
    pages: Vec<Vec<Line>>,
    y: f32,
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x303F | 0x3040..=0x9FFF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

/// Attached to what comes before it.
fn no_line_start(c: char) -> bool {
    "，。、；：！？）》」』】〕’”…—·％,.;:!?)]}%".contains(c)
}

/// Attached to what comes after it.
fn no_line_end(c: char) -> bool {
    "（《「『【〔‘“([{¥$".contains(c)
}

impl PdfDocument {
    pub fn new() -> Result<PdfDocument, String> {
        let face = ttf_parser::Face::parse(FONT, 0).map_err(|e| format!("the embedded font does not parse: {e}"))?;
        Ok(PdfDocument { face, pages: vec![Vec::new()], y: MARGIN })
    }

    fn char_width(&self, c: char, size: f32) -> f32 {
        let glyph = self.face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
        f32::from(self.face.glyph_hor_advance(glyph).unwrap_or(0)) * size / f32::from(self.face.units_per_em())
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.char_width(c, size)).sum()
    }

    /// Characters the font lacks become □ rather than invisible boxes.
    fn printable(&self, text: &str) -> String {
        text.chars().map(|c| if c.is_whitespace() || self.face.glyph_index(c).is_some() { if c.is_whitespace() { ' ' } else { c } } else { '□' }).collect()
    }

    fn wrap(&self, text: &str, size: f32, max_width: f32) -> Vec<String> {
        let text = self.printable(text);
        // Tokens: (preceded by a space, text).
        let mut tokens: Vec<(bool, String)> = Vec::new();
        let (mut space, mut glue_next) = (false, false);
        for c in text.chars() {
            if c == ' ' {
                space = true;
                glue_next = false;
                continue;
            }
            let after_word = tokens.last().is_some_and(|(_, t)| t.chars().last().is_some_and(|l| !is_cjk(l)));
            let join = !space && (glue_next || no_line_start(c) || (!is_cjk(c) && after_word));
            match tokens.last_mut() {
                Some((_, token)) if join => token.push(c),
                _ => tokens.push((space, c.to_string())),
            }
            space = false;
            glue_next = no_line_end(c);
        }
        let mut lines = Vec::new();
        let (mut line, mut line_width) = (String::new(), 0.0);
        for (spaced, token) in tokens {
            let token_width = self.width(&token, size);
            let separator = if spaced && !line.is_empty() { " " } else { "" };
            let separator_width = self.width(separator, size);
            if line_width + separator_width + token_width <= max_width {
                line.push_str(separator);
                line.push_str(&token);
                line_width += separator_width + token_width;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line_width = 0.0;
            }
            if token_width <= max_width {
                (line, line_width) = (token, token_width);
                continue;
            }
            for c in token.chars() {
                let w = self.char_width(c, size);
                if line_width + w > max_width && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    line_width = 0.0;
                }
                line.push(c);
                line_width += w;
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// The baseline of the next line of `size`, on a new page when this one is full.
    fn next_line(&mut self, size: f32) -> f32 {
        let height = size * 1.6;
        if self.y + height > PAGE_H - MARGIN {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
        let baseline = self.y + size * 1.15;
        self.y += height;
        baseline
    }

    fn put(&mut self, x: f32, size: f32, text: String) -> f32 {
        let y = self.next_line(size);
        if let Some(page) = self.pages.last_mut() {
            page.push(Line { x, y, size, text });
        }
        y
    }

    fn block(&mut self, text: &str, size: f32, gap: f32) {
        for line in self.wrap(text, size, PAGE_W - 2.0 * MARGIN) {
            self.put(MARGIN, size, line);
        }
        self.y += size * gap;
    }

    pub fn title(&mut self, text: &str) {
        self.block(text, 18.0, 0.4);
    }

    pub fn heading(&mut self, text: &str) {
        self.y += 6.0;
        self.block(text, 13.0, 0.3);
    }

    pub fn paragraph(&mut self, text: &str) {
        self.block(text, 10.0, 0.5);
    }

    pub fn key_value(&mut self, key: &str, value: &str) {
        let size = 9.5;
        let key = self.printable(key);
        let lines = self.wrap(value, size, PAGE_W - 2.0 * MARGIN - KEY_COL);
        for (i, line) in lines.into_iter().enumerate() {
            let y = self.put(MARGIN + KEY_COL, size, line);
            if i == 0
                && let Some(page) = self.pages.last_mut()
            {
                page.push(Line { x: MARGIN, y, size, text: key.clone() });
            }
        }
    }

    /// The PDF: every page with its footer (`footer(page, pages)`).
    pub fn render(self, title: &str, language: &str, created: (i16, u8, u8, u8, u8, u8), footer: impl Fn(usize, usize) -> String) -> Result<Vec<u8>, String> {
        let settings = SerializeSettings { configuration: Configuration::new_with_validator(Validator::A2_B), ..Default::default() };
        let mut document = Document::new_with(settings);
        let (year, month, day, hour, minute, second) = created;
        document.set_metadata(
            Metadata::new()
                .title(title.to_owned())
                .language(language.to_owned())
                .creator("Recourse".to_owned())
                .creation_date(DateTime::new(year as u16).month(month).day(day).hour(hour).minute(minute).second(second).utc_offset_hour(0)),
        );
        let font = Font::new(FONT.to_vec().into(), 0).ok_or("the embedded font does not load")?;
        let pages = self.pages.len();
        let page_settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or("bad page size")?;
        for (n, lines) in self.pages.iter().enumerate() {
            let mut page = document.start_page_with(page_settings.clone());
            let mut surface = page.surface();
            for line in lines {
                surface.draw_text(Point::from_xy(line.x, line.y), font.clone(), line.size, &line.text, false, TextDirection::Auto);
            }
            let text = self.printable(&footer(n + 1, pages));
            surface.draw_text(Point::from_xy(MARGIN, PAGE_H - MARGIN / 2.0), font.clone(), 8.0, &text, false, TextDirection::Auto);
            surface.finish();
            page.finish();
        }
        document.finish().map_err(|e| format!("{e:?}"))
    }
}
