//! What text the clinic's records may hold. Names, titles, reasons and
//! messages end up on screens, in OS notifications, in logs and in CSV
//! exports; characters that are invisible or that change how the text
//! around them is shown (terminal escapes, bidirectional overrides) make a
//! record lie about itself, so they are refused with a clear error rather
//! than stored. Shared by the server (which enforces it) and clients (which
//! can say so before sending).

/// Why a text was refused: which character, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} contains {what} (U+{code:04X}) at character {at}")]
pub struct BadText {
    pub field: String,
    pub what: &'static str,
    pub code: u32,
    /// 1-based position among the characters.
    pub at: usize,
}

/// Where a text goes: a one-line field (a name, a title) or a message that
/// may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// What is wrong with `c` anywhere, if anything.
fn refused(c: char, lines: Lines) -> Option<&'static str> {
    match c {
        '\n' if lines == Lines::Many => None,
        '\t' => None,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => Some("a control character"),
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}' => {
            Some("a text-direction control")
        }
        '\u{200b}' | '\u{2060}' | '\u{feff}' | '\u{180e}' | '\u{2061}'..='\u{2064}' => {
            Some("an invisible character")
        }
        '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}' => Some("an invisible character"),
        _ => None,
    }
}

/// Refuses `value` if it holds a control, text-direction or invisible
/// character (joiners inside words, as some scripts and emoji need, are fine).
pub fn check(field: &str, value: &str, lines: Lines) -> Result<(), BadText> {
    for (i, c) in value.chars().enumerate() {
        if let Some(what) = refused(c, lines) {
            return Err(BadText {
                field: field.to_owned(),
                what,
                code: c as u32,
                at: i + 1,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_in_any_script_passes() {
        for ok in [
            "Zoë Núñez-Ortiz",
            "O'Brien",
            "محمد رضایی", // Persian, with a zero-width non-joiner below
            "می\u{200c}خواهم",
            "👩\u{200d}⚕️ Dr. Ana",
            "Grüße\tTab",
            "李小龙",
        ] {
            assert!(check("name", ok, Lines::One).is_ok(), "{ok:?}");
        }
        assert!(check("body", "line one\nline two", Lines::Many).is_ok());
    }

    #[test]
    fn controls_escapes_direction_overrides_and_invisibles_are_refused_with_where() {
        let cases = [
            ("\u{200b}\u{200b}", "an invisible character", 1),
            ("Ann\u{1b}[31mRed", "a control character", 4),
            ("invoice\u{202e}fdp.exe", "a text-direction control", 8),
            ("a\u{2066}b", "a text-direction control", 2),
            ("x\u{feff}", "an invisible character", 2),
            ("bell\u{7}", "a control character", 5),
            ("c1\u{85}", "a control character", 3),
            ("tag\u{e0041}", "an invisible character", 4),
        ];
        for (text, what, at) in cases {
            let e = check("name", text, Lines::One).unwrap_err();
            assert_eq!((e.what, e.at), (what, at), "{text:?}");
        }
        assert!(
            check("title", "two\nlines", Lines::One).is_err(),
            "a newline in a one-line field"
        );
        assert_eq!(
            check("name", "a\u{202e}b", Lines::One)
                .unwrap_err()
                .to_string(),
            "name contains a text-direction control (U+202E) at character 2"
        );
    }
}
