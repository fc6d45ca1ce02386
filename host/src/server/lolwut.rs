//! `LOLWUT`: a piece of generative art and the version, as Redis answers
//! it. Goldylox draws its own: three bands of squares, one per tier — the
//! hot tier's shaken hard, the warm tier's a little, the cold tier's
//! still — on a canvas of Braille characters (two by four dots each).

/// Drawing parameters: terminal columns, squares per row, rows of squares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Art {
    /// Width in terminal columns (each two dots wide).
    pub(crate) columns: usize,
    /// Squares across.
    pub(crate) squares_per_row: usize,
    /// Rows of squares, split into the three tiers' bands.
    pub(crate) rows: usize,
}

impl Default for Art {
    fn default() -> Self {
        Art {
            columns: 66,
            squares_per_row: 8,
            rows: 12,
        }
    }
}

/// Bounds that keep a request's drawing small (Redis bounds its own).
const MAX_COLUMNS: usize = 1_000;
const MAX_SQUARES: usize = 200;

impl Art {
    /// The parameters of `LOLWUT [VERSION v] [columns] [squares] [rows]`
    /// after the version: each given one replaces its default, clamped to
    /// a drawable range.
    pub(crate) fn with(numbers: &[i64]) -> Art {
        let mut art = Art::default();
        let clamp = |n: i64, hi: usize| n.clamp(1, hi as i64) as usize;
        if let Some(&n) = numbers.first() {
            art.columns = clamp(n, MAX_COLUMNS);
        }
        if let Some(&n) = numbers.get(1) {
            art.squares_per_row = clamp(n, MAX_SQUARES);
        }
        if let Some(&n) = numbers.get(2) {
            art.rows = clamp(n, MAX_SQUARES);
        }
        art
    }

    /// The drawing, one line per four rows of dots, then the caption.
    pub(crate) fn render(&self, version: &str) -> String {
        let width = self.columns * 2;
        let side = (width / (self.squares_per_row + 2)).max(2);
        let height = side * (self.rows + 2);
        let mut canvas = Canvas::new(width, height);
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        for row in 0..self.rows {
            // Hot at the top, then warm, then cold: how much each shakes.
            let shake = match row * 3 / self.rows.max(1) {
                0 => 0.45,
                1 => 0.15,
                _ => 0.0,
            };
            for col in 0..self.squares_per_row {
                let mut jitter = || (next(&mut rng) - 0.5) * shake;
                let angle = jitter() * std::f64::consts::PI;
                let (dx, dy) = (jitter() * side as f64, jitter() * side as f64);
                let cx = (col + 1) as f64 * side as f64 + side as f64 / 2.0 + dx;
                let cy = (row + 1) as f64 * side as f64 + side as f64 / 2.0 + dy;
                canvas.square(cx, cy, side as f64 * 0.8, angle);
            }
        }
        let mut text = canvas.to_braille();
        text.push_str(&format!(
            "\nHot, warm and cold, shaken by what they hold. Goldylox ver. {}, answering as Redis ver. {version}\n",
            env!("CARGO_PKG_VERSION")
        ));
        text
    }
}

/// A uniform number in [0, 1) from an xorshift state.
fn next(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// Dots, set or not.
struct Canvas {
    width: usize,
    height: usize,
    dots: Vec<bool>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Canvas {
            width,
            height,
            dots: vec![false; width * height],
        }
    }

    fn set(&mut self, x: f64, y: f64) {
        let (x, y) = (x.round(), y.round());
        if x >= 0.0 && y >= 0.0 && (x as usize) < self.width && (y as usize) < self.height {
            self.dots[y as usize * self.width + x as usize] = true;
        }
    }

    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64)) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            self.set(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        }
    }

    /// A square of side `side` centred on (`cx`, `cy`), turned by `angle`.
    fn square(&mut self, cx: f64, cy: f64, side: f64, angle: f64) {
        let half = side / 2.0;
        let (sin, cos) = angle.sin_cos();
        let corner = |x: f64, y: f64| (cx + x * cos - y * sin, cy + x * sin + y * cos);
        let corners = [
            corner(-half, -half),
            corner(half, -half),
            corner(half, half),
            corner(-half, half),
        ];
        for i in 0..4 {
            self.line(corners[i], corners[(i + 1) % 4]);
        }
    }

    /// Each 2 x 4 block of dots as one Braille character (U+2800 plus
    /// the dots' bits, in Unicode's dot order).
    fn to_braille(&self) -> String {
        const BITS: [[u32; 2]; 4] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]];
        let mut text = String::new();
        for top in (0..self.height).step_by(4) {
            for left in (0..self.width).step_by(2) {
                let mut code = 0x2800;
                for (dy, bits) in BITS.iter().enumerate() {
                    for (dx, bit) in bits.iter().enumerate() {
                        let (x, y) = (left + dx, top + dy);
                        if x < self.width && y < self.height && self.dots[y * self.width + x] {
                            code |= bit;
                        }
                    }
                }
                text.push(char::from_u32(code).unwrap_or(' '));
            }
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drawing_has_the_asked_width_and_names_the_version() {
        let text = Art::with(&[40, 5, 6]).render("7.4.0");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 5, "{text}");
        assert!(
            lines[..lines.len() - 2]
                .iter()
                .all(|l| l.chars().count() == 40)
        );
        assert!(text.contains("Redis ver. 7.4.0"));
        assert!(
            text.chars()
                .any(|c| c != '\u{2800}' && ('\u{2801}'..='\u{28FF}').contains(&c))
        );
    }

    #[test]
    fn hostile_sizes_are_clamped() {
        let art = Art::with(&[i64::MAX, -5, 0]);
        assert_eq!(
            (art.columns, art.squares_per_row, art.rows),
            (MAX_COLUMNS, 1, 1)
        );
        assert!(!art.render("7.4.0").is_empty());
    }
}
