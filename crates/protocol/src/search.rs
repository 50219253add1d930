//! Finding a patient the way a receptionist types: name words in any order
//! and by prefix, ignoring case and accents; phone digits; a birth date in
//! the usual written forms. One normalisation and one ranking, shared by the
//! server (over the clinic's patients) and the engine (over the patients a
//! desk holds offline), so both answer a query alike.

use crate::records::Patient;
use chrono::{Datelike, NaiveDate};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Most patients a search answers with at once.
pub const PAGE_MAX: usize = 50;

/// Query words past this many are ignored (nobody types more; each costs an index scan).
pub const WORDS_MAX: usize = 6;

/// Lower case without accents: `Zoë Ñúñez-Łukasz` → `zoe nunez-lukasz`.
/// Letters that do not decompose (ø, ł, æ, ß…) are spelled out the way
/// people type them without the key.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfd().filter(|c| !is_combining_mark(*c)) {
        match c {
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' | 'ð' | 'Ð' => out.push('d'),
            'ı' => out.push('i'),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ß' => out.push_str("ss"),
            'þ' | 'Þ' => out.push_str("th"),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The words of a name as search compares them: folded, split at anything
/// but letters and digits; apostrophes join (`O'Brien` → `obrien`).
pub fn name_words(name: &str) -> Vec<String> {
    fold(name)
        .replace(['\'', '’', '`'], "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What two registrations of one person share whatever the order or
/// spelling of case and accents: the name's words, sorted.
pub fn name_key(name: &str) -> String {
    let mut words = name_words(name);
    words.sort();
    words.join(" ")
}

/// The digits of a phone number (`+1 (555) 01-23` → `15550123`).
pub fn phone_digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// A parsed search: every part given must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Each must be a prefix of a word of the patient's name.
    pub words: Vec<String>,
    /// At least three digits that must occur in the patient's phone.
    pub phone: Option<String>,
    /// The birth date, or the dates an ambiguous one can be (`03/04/1980`).
    pub birth: Vec<NaiveDate>,
}

impl Query {
    /// Reads what was typed. `None` when it holds nothing to search by
    /// (empty, only punctuation, or fewer than three digits alone). A birth
    /// date may stand anywhere among the words, written as desks write them
    /// (see [`numeric_date`] and [`named_month_date`]); the first one counts.
    pub fn parse(input: &str) -> Option<Query> {
        let tokens: Vec<&str> = input
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        let mut q = Query::default();
        let mut digits = String::new();
        let mut i = 0;
        while i < tokens.len() {
            if q.birth.is_empty() {
                let three = tokens.get(i..i + 3);
                if let Some(d) = three.and_then(|w| named_month_date(w[0], w[1], w[2])) {
                    q.birth = vec![d];
                    i += 3;
                    continue;
                }
                if let Some(dates) = numeric_date(tokens[i])
                    .or_else(|| named_month_token(tokens[i]).map(|d| vec![d]))
                {
                    q.birth = dates;
                    i += 1;
                    continue;
                }
            }
            let token = tokens[i];
            if token.chars().any(|c| c.is_ascii_digit())
                && token
                    .chars()
                    .all(|c| c.is_ascii_digit() || "+-().".contains(c))
            {
                digits.push_str(&phone_digits(token));
            } else {
                q.words.extend(name_words(token));
            }
            i += 1;
        }
        q.words.truncate(WORDS_MAX);
        if digits.len() >= 3 {
            q.phone = Some(digits);
        } else if !digits.is_empty() {
            q.words.push(digits);
        }
        (!q.words.is_empty() || q.phone.is_some() || !q.birth.is_empty()).then_some(q)
    }

    /// How well `p` answers the query, `None` when it does not match.
    /// Higher is better: a whole word beats a prefix, the whole name beats
    /// its words, a whole phone number beats a part of one.
    pub fn score(&self, p: &Patient) -> Option<u32> {
        self.score_with(p, &name_words(&p.name))
    }

    /// [`Query::score`] with the patient's name words already folded.
    fn score_with(&self, p: &Patient, words: &[String]) -> Option<u32> {
        let mut score = 0;
        if !self.words.is_empty() {
            for q in &self.words {
                if words.iter().any(|w| w == q) {
                    score += 3;
                } else if words.iter().any(|w| w.starts_with(q.as_str())) {
                    score += 2;
                } else {
                    return None;
                }
            }
            let mut typed = self.words.clone();
            typed.sort();
            let mut have = words.to_vec();
            have.sort();
            if typed == have {
                score += 4;
            }
        }
        if let Some(q) = &self.phone {
            let digits = phone_digits(p.phone.as_deref().unwrap_or_default());
            if digits == *q {
                score += 4;
            } else if digits.ends_with(q.as_str()) {
                score += 3;
            } else if digits.contains(q.as_str()) {
                score += 1;
            } else {
                return None;
            }
        }
        if !self.birth.is_empty() {
            if !p.birth_date.is_some_and(|b| self.birth.contains(&b)) {
                return None;
            }
            score += 4;
        }
        Some(score)
    }

    /// The matching patients of `patients`, best first (then by their
    /// folded name words and id, so an order never depends on where the
    /// candidates came from).
    pub fn rank<'a>(&self, patients: impl IntoIterator<Item = &'a Patient>) -> Vec<&'a Patient> {
        let mut hits: Vec<(u32, String, &Patient)> = patients
            .into_iter()
            .filter_map(|p| {
                let words = name_words(&p.name);
                self.score_with(p, &words).map(|s| (s, words.join(" "), p))
            })
            .collect();
        hits.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| a.1.cmp(&b.1))
                .then_with(|| a.2.id.cmp(&b.2.id))
        });
        hits.into_iter().map(|(_, _, p)| p).collect()
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// A month by name or by its first three letters or more (`Sept.`).
fn month_named(word: &str) -> Option<u32> {
    let w = fold(word.trim_end_matches('.'));
    if w.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(&w))
        .map(|i| i as u32 + 1)
}

fn plausible_birth(d: NaiveDate) -> bool {
    (1880..=2200).contains(&d.year())
}

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).filter(|d| plausible_birth(*d))
}

/// `1980-03-12`, `12/03/1980`, `12.03.1980`, `12-03-1980`, `3/12/1980`;
/// day and month both ≤ 12 give both readings. Four-digit years only: a
/// two-digit year is as likely a phone fragment.
fn numeric_date(token: &str) -> Option<Vec<NaiveDate>> {
    let parts: Vec<&str> = token.split(['-', '/', '.']).collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    if n.len() != 3 {
        return None;
    }
    if parts[0].len() == 4 {
        return date(n[0] as i32, n[1], n[2]).map(|d| vec![d]);
    }
    if parts[2].len() != 4 {
        return None;
    }
    let year = n[2] as i32;
    let mut out: Vec<NaiveDate> = [date(year, n[1], n[0]), date(year, n[0], n[1])]
        .into_iter()
        .flatten()
        .collect();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

/// A day of the month as written: `12`, `12.`, `12th`, `1st`, `2nd`, `3rd`
/// (the ending the number takes in English, nothing else).
fn day_written(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.');
    let number = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if number.is_empty() || number.len() > 2 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day: u32 = number.parse().ok()?;
    let ending = match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    let suffix = fold(&w[number.len()..]);
    (suffix.is_empty() || suffix == ending).then_some(day)
}

/// A date with its month named, as three words in either order:
/// `12 March 1980`, `March 12 1980` (the comma is dropped before),
/// `12th mar 1980`, `Sept. 3 1980`. Four-digit years only.
fn named_month_date(a: &str, b: &str, c: &str) -> Option<NaiveDate> {
    let year: i32 = c
        .parse()
        .ok()
        .filter(|_| c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()))?;
    let (day, month) = match (day_written(a), month_named(a)) {
        (Some(day), _) => (day, month_named(b)?),
        (None, Some(month)) => (day_written(b)?, month),
        (None, None) => return None,
    };
    date(year, month, day)
}

/// One word that is a date with its month named: `12-Mar-1980`,
/// `12/mar/1980`, `12.Mar.1980`.
fn named_month_token(token: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = token.split(['-', '/', '.']).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    named_month_date(a, b, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(id: &str, name: &str, phone: Option<&str>, birth: Option<&str>) -> Patient {
        Patient {
            id: id.into(),
            name: name.into(),
            initials: String::new(),
            birth_date: birth.map(|b| b.parse().unwrap()),
            phone: phone.map(str::to_owned),
            version: 1,
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn folding_drops_case_and_accents_and_spells_out_letters_that_do_not_decompose() {
        assert_eq!(fold("Zoë Ñúñez"), "zoe nunez");
        assert_eq!(fold("Łukasz Øberg Straße Æsa"), "lukasz oberg strasse aesa");
        assert_eq!(fold("İLKER"), "ilker");
        assert_eq!(
            name_words("  O'Brien-Smith, Mary  Ann "),
            ["obrien", "smith", "mary", "ann"]
        );
        assert_eq!(name_key("Okafor  Sam"), name_key("sam OKAFOR"));
        assert_eq!(name_key("José Núñez"), name_key("Nunez Jose"));
        assert_ne!(name_key("Sam Okafor"), name_key("Sam Okafor Jr"));
        assert_eq!(phone_digits("+1 (555) 01-23"), "15550123");
    }

    #[test]
    fn queries_read_words_phone_digits_and_dates() {
        let q = Query::parse("Oka sam").unwrap();
        assert_eq!(q.words, ["oka", "sam"]);
        assert_eq!(q.phone, None);
        assert_eq!(
            Query::parse("555 0123").unwrap().phone.as_deref(),
            Some("5550123")
        );
        assert_eq!(
            Query::parse("+1 (555) 0123").unwrap().phone.as_deref(),
            Some("15550123")
        );
        assert_eq!(Query::parse("1980-03-12").unwrap().birth, [d("1980-03-12")]);
        assert_eq!(
            Query::parse("12.03.1980").unwrap().birth,
            [d("1980-03-12"), d("1980-12-03")]
        );
        assert_eq!(Query::parse("25/03/1980").unwrap().birth, [d("1980-03-25")]);
        assert_eq!(Query::parse("3/25/1980").unwrap().birth, [d("1980-03-25")]);
        assert_eq!(
            Query::parse("12 March 1980").unwrap().birth,
            [d("1980-03-12")]
        );
        assert_eq!(
            Query::parse("mar 12, 1980").unwrap().birth,
            [d("1980-03-12")]
        );
        assert_eq!(
            Query::parse("12 Sept. 1980").unwrap().birth,
            [d("1980-09-12")]
        );
        let both = Query::parse("okafor 25/03/1980").unwrap();
        assert_eq!(
            (both.words.as_slice(), both.birth.as_slice()),
            (&["okafor".to_owned()][..], &[d("1980-03-25")][..])
        );
        // A named month among the words, in the other forms desks type.
        for (typed, words) in [
            ("okafor 12 March 1980", &["okafor"][..]),
            ("sam 12 mar 1980 okafor", &["sam", "okafor"][..]),
            ("March 12, 1980 okafor", &["okafor"][..]),
            ("okafor 12th March 1980", &["okafor"][..]),
            ("12-Mar-1980", &[][..]),
            ("okafor 12/mar/1980", &["okafor"][..]),
            ("1st Mar. 1980", &[][..]),
        ] {
            let q = Query::parse(typed).unwrap();
            let want = if typed.starts_with("1st") {
                "1980-03-01"
            } else {
                "1980-03-12"
            };
            assert_eq!(q.birth, [d(want)], "{typed}");
            assert_eq!(q.words, words, "{typed}");
            assert_eq!(
                q.phone, None,
                "{typed}: the day and year are not a phone number"
            );
        }
        // A month-like name with no date beside it stays a name.
        assert_eq!(
            Query::parse("theresa may").unwrap().words,
            ["theresa", "may"]
        );
        assert_eq!(Query::parse("may 1980").unwrap().birth, []);
        assert_eq!(Query::parse("12 mayfair 1980").unwrap().birth, []);
        assert_eq!(Query::parse("12xx March 1980").unwrap().birth, []);
        assert_eq!(Query::parse("2st March 1980").unwrap().birth, []);
        assert_eq!(Query::parse("+1 March 1980").unwrap().birth, []);
        assert_eq!(
            Query::parse("11th march 1980, 22nd").unwrap().birth,
            [d("1980-03-11")]
        );
        // Not dates: impossible days, two-digit years, far years.
        assert!(Query::parse("31/02/1980").unwrap().birth.is_empty());
        assert!(Query::parse("12/03/80").unwrap().birth.is_empty());
        assert!(Query::parse("1/1/0001").unwrap().birth.is_empty());
        // Nothing to search by.
        assert_eq!(Query::parse("   "), None);
        assert_eq!(Query::parse("-- ,"), None);
        // Two digits alone are a name word ("Room 12" style), not a phone.
        assert_eq!(Query::parse("12").unwrap().words, ["12"]);
        assert_eq!(
            Query::parse("a b c d e f g h").unwrap().words.len(),
            WORDS_MAX
        );
    }

    #[test]
    fn names_match_by_word_prefix_in_any_order_ignoring_case_and_accents() {
        let zoe = patient("p1", "Zoë Núñez", None, None);
        for typed in ["zoe", "ZOË", "nun", "núñez zo", "NUNEZ", "zo nu"] {
            assert!(
                Query::parse(typed).unwrap().score(&zoe).is_some(),
                "{typed}"
            );
        }
        for typed in ["oe", "zoey", "nunez x", "ez"] {
            assert!(
                Query::parse(typed).unwrap().score(&zoe).is_none(),
                "{typed}"
            );
        }
        // Two query words may not both claim only one name word… they may,
        // if both are prefixes of it: "sam sa" still finds "Sam Okafor".
        let sam = patient("p2", "Sam Okafor", None, None);
        assert!(Query::parse("sam sa").unwrap().score(&sam).is_some());
    }

    #[test]
    fn ranking_puts_whole_words_before_prefixes_and_the_whole_name_first() {
        let people = [
            patient("p1", "Samantha Okafor", None, None),
            patient("p2", "Sam Okafor", None, None),
            patient("p3", "Sam Okafor-Reyes", None, None),
            patient("p4", "Samuel Adeyemi", None, None),
            patient("p5", "Ada Samson", None, None),
            patient("p6", "Bea Kowalski", None, None),
        ];
        let names = |q: &str| -> Vec<&str> {
            Query::parse(q)
                .unwrap()
                .rank(&people)
                .iter()
                .map(|p| p.name.as_str())
                .collect()
        };
        assert_eq!(
            names("sam"),
            [
                "Sam Okafor",
                "Sam Okafor-Reyes",
                "Ada Samson",
                "Samantha Okafor",
                "Samuel Adeyemi"
            ]
        );
        assert_eq!(
            names("okafor sam"),
            ["Sam Okafor", "Sam Okafor-Reyes", "Samantha Okafor"]
        );
        assert_eq!(names("kow"), ["Bea Kowalski"]);
        assert!(names("zed").is_empty());
    }

    #[test]
    fn phone_digits_match_anywhere_and_a_whole_number_ranks_first() {
        let people = [
            patient("p1", "A One", Some("+1 555 0123"), None),
            patient("p2", "B Two", Some("555-0123"), None),
            patient("p3", "C Three", Some("(555) 9999"), None),
            patient("p4", "D Four", None, None),
        ];
        let ids = |q: &str| -> Vec<&str> {
            Query::parse(q)
                .unwrap()
                .rank(&people)
                .iter()
                .map(|p| p.id.as_str())
                .collect()
        };
        assert_eq!(ids("5550123"), ["p2", "p1"]);
        assert_eq!(ids("0123"), ["p1", "p2"]);
        assert_eq!(ids("555"), ["p1", "p2", "p3"]);
        assert_eq!(ids("999"), ["p3"]);
    }

    #[test]
    fn birth_dates_match_either_reading_of_an_ambiguous_date() {
        let people = [
            patient("p1", "March Twelfth", None, Some("1980-03-12")),
            patient("p2", "December Third", None, Some("1980-12-03")),
            patient("p3", "No Date", None, None),
        ];
        let ids = |q: &str| -> Vec<&str> {
            Query::parse(q)
                .unwrap()
                .rank(&people)
                .iter()
                .map(|p| p.id.as_str())
                .collect()
        };
        assert_eq!(ids("12/03/1980"), ["p2", "p1"]);
        assert_eq!(ids("1980-03-12"), ["p1"]);
        assert_eq!(ids("12 Dec 1980"), Vec::<&str>::new());
        assert_eq!(ids("3 Dec 1980"), ["p2"]);
        assert_eq!(ids("march 12/03/1980"), ["p1"]);
    }
}
