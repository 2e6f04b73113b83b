//! The "similar piece" rule: does a new title/composer nearly match a piece already in the
//! repertoire? Only a warning for the user (ids are never derived from titles, and two
//! pieces may well share a title), so it leans towards asking.
//!
//! Both texts are normalized first ([`normalize`]): compatibility decomposition with the
//! combining marks dropped (`Dvořák` → `dvorak`), lower case, every run of characters that
//! are not letters or digits one space (`Op.10, No.3` → `op 10 no 3`). Then two titles are
//! close when, normalized,
//! - their numbers are the same (`Ballade No. 1` and `Ballade No. 2` are two pieces) and
//!   they are equal or their normalized Levenshtein similarity is at least
//!   [`TITLE_SIMILARITY`], or
//! - the words of one (at least two words, numbers included) are all words of the other
//!   (`Ballade No 1` and `Ballade No. 1 in G minor, Op. 23`).
//!
//! Composers are compatible when either is missing, or they are close: equal, Jaro-Winkler
//! similarity at least [`COMPOSER_SIMILARITY`], or the same last word (`F. Chopin`,
//! `Frédéric Chopin`). A piece is similar when its title is close and its composer compatible.

use std::collections::BTreeSet;

use legato_protocol::{EntityId, EntityType};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::error::Result;
use crate::store::Store;

/// Titles at least this similar (normalized Levenshtein, 0..1) are close.
pub const TITLE_SIMILARITY: f64 = 0.8;
/// Composers at least this similar (Jaro-Winkler, 0..1) are close.
pub const COMPOSER_SIMILARITY: f64 = 0.88;

/// A repertoire piece that nearly matches a title/composer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimilarPiece {
    pub id: EntityId,
    pub title: String,
    pub composer: Option<String>,
}

/// The normalized form of a title or composer (see the module docs).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

fn numbers(normalized: &str) -> Vec<&str> {
    normalized
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .map(|n| n.trim_start_matches('0'))
        .collect()
}

fn words_within(small: &BTreeSet<&str>, large: &BTreeSet<&str>) -> bool {
    small.len() >= 2 && small.is_subset(large)
}

/// Whether two titles are close (see the module docs).
pub fn titles_close(a: &str, b: &str) -> bool {
    let (a, b) = (normalize(a), normalize(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if numbers(&a) == numbers(&b)
        && (a == b || strsim::normalized_levenshtein(&a, &b) >= TITLE_SIMILARITY)
    {
        return true;
    }
    let words_a: BTreeSet<&str> = a.split(' ').collect();
    let words_b: BTreeSet<&str> = b.split(' ').collect();
    words_within(&words_a, &words_b) || words_within(&words_b, &words_a)
}

/// Whether two composers may be the same person: either unknown, or close.
pub fn composers_compatible(a: Option<&str>, b: Option<&str>) -> bool {
    let (a, b) = (
        a.map(normalize).unwrap_or_default(),
        b.map(normalize).unwrap_or_default(),
    );
    if a.is_empty() || b.is_empty() || a == b {
        return true;
    }
    strsim::jaro_winkler(&a, &b) >= COMPOSER_SIMILARITY
        || a.rsplit(' ').next() == b.rsplit(' ').next()
}

/// Whether a piece `title`/`composer` is similar to another (see the module docs).
pub fn is_similar(
    title: &str,
    composer: Option<&str>,
    other_title: &str,
    other_composer: Option<&str>,
) -> bool {
    titles_close(title, other_title) && composers_compatible(composer, other_composer)
}

impl Store {
    /// The live repertoire pieces similar to `title`/`composer` (see [`is_similar`]), oldest
    /// first; `except` (the piece being edited) is left out.
    pub fn similar_pieces(
        &self,
        title: &str,
        composer: Option<&str>,
        except: Option<&EntityId>,
    ) -> Result<Vec<SimilarPiece>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT entity_id, json_extract(state, '$.title'), json_extract(state, '$.composer')
             FROM entities
             WHERE entity_type = ?1 AND deleted = 0 AND entity_id IS NOT ?2
             ORDER BY rowid",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![
                EntityType::Repertoire.as_str(),
                except.map(EntityId::as_str)
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                ))
            },
        )?;
        let mut similar = Vec::new();
        for row in rows {
            let (id, other_title, other_composer) = row?;
            let other_title = other_title.unwrap_or_default();
            if is_similar(title, composer, &other_title, other_composer.as_deref()) {
                similar.push(SimilarPiece {
                    id: EntityId::new(id)
                        .map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))?,
                    title: other_title,
                    composer: other_composer,
                });
            }
        }
        Ok(similar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_folds_case_accents_and_punctuation() {
        assert_eq!(normalize("  Dvořák "), "dvorak");
        assert_eq!(normalize("Étude Op.10, No.3"), "etude op 10 no 3");
        assert_eq!(normalize("Ｂａｃｈ"), "bach");
        assert_eq!(normalize("—"), "");
    }

    #[test]
    fn near_titles_are_close() {
        assert!(titles_close("Clair de lune", "clair de lune"));
        assert!(titles_close("Clair de lune", "Clair de Lune."));
        assert!(titles_close("Gymnopédie No. 1", "Gymnopedie no 1"));
        // One typo in a short title.
        assert!(titles_close("Träumerei", "Traumerai"));
        // The words of one are within the other.
        assert!(titles_close(
            "Ballade No. 1",
            "Ballade No 1 in G minor, Op. 23"
        ));
        // Numbers must agree: 1 and 01 are the same number.
        assert!(titles_close("Prelude No. 01", "Prelude No. 1"));
    }

    #[test]
    fn different_pieces_are_not_close() {
        assert!(!titles_close("Ballade No. 1", "Ballade No. 2"));
        assert!(!titles_close("Op. 10 No. 3", "Op. 10 No. 4"));
        assert!(!titles_close("Clair de lune", "Für Elise"));
        assert!(!titles_close("Nocturne", "Sonata"));
        // A single shared word is not enough for containment.
        assert!(!titles_close("Sonata", "Sonata facile in C major"));
        assert!(!titles_close("", ""));
    }

    #[test]
    fn the_threshold_is_where_the_docs_say() {
        // 8 of 10 characters kept: exactly 0.8.
        assert!(titles_close("abcdefghij", "abcdefghxy"));
        // 7 of 10: below.
        assert!(!titles_close("abcdefghij", "abcdefgxyz"));
    }

    #[test]
    fn composers_must_not_contradict() {
        assert!(composers_compatible(None, Some("Chopin")));
        assert!(composers_compatible(Some(""), Some("Chopin")));
        assert!(composers_compatible(Some("Dvořák"), Some("dvorak")));
        assert!(composers_compatible(
            Some("F. Chopin"),
            Some("Frédéric Chopin")
        ));
        assert!(composers_compatible(
            Some("Tchaikovsky"),
            Some("Tchaikowsky")
        ));
        assert!(!composers_compatible(Some("Mozart"), Some("Haydn")));
        assert!(!is_similar(
            "Sonata in C",
            Some("Mozart"),
            "Sonata in C",
            Some("Haydn")
        ));
        assert!(is_similar(
            "Sonata in C",
            Some("W. A. Mozart"),
            "Sonata in C major",
            None
        ));
    }
}
