//! The snapshot: what the controller publishes and every edge reads.
//!
//! A snapshot carries, per CDN, its id, static weight, score, target weight, state and reason,
//! and the slot table as a string with one character per slot (`0`–`9`, `a`–`z`, `A`–`Z` for CDN
//! indexes 0–61): 1000 slots are 1000 bytes of JSON, readable in a log, and decoded once per
//! snapshot into a byte table so an edge request costs one SHA-256 and one array lookup. Groups
//! with their own table carry the same per-CDN fields and slot string.
//!
//! Decoding is strict, because the edge acts on it for every viewer: the version is checked
//! first (a future version is reported as such, not as a confusing field error), unknown fields
//! are refused, and every invariant the edge relies on (weights add up to 10000, slot characters
//! name existing CDNs, tables agree in size...) is checked, each with its own [`DecodeError`].
//! A decoded [`HealthSnapshot`] is valid by construction: its fields are private.
//!
//! Version 3 adds an optional per-event admission list ([`AdmissionPlan`], the waiting room's
//! frontier); versions 1 and 2 still decode, without one.
//!
//! What this module does not do: sign or verify snapshots ([`super::signature`] wraps the JSON
//! bytes in a signed envelope), or fetch them.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::admission::{self, AdmissionError, AdmissionPlan};
use super::config::{BASIS_POINTS, MAX_CDNS, MAX_GROUPS, MAX_ID_LEN, SLOTS_RANGE};
use super::reason::{CdnState, Reason};
use super::slot::{decode_char, encode, session_slot, static_slot_cdn};

/// The snapshot format this crate writes and reads.
pub const FORMAT_VERSION: u16 = 3;

/// The first format version with the `admission` list.
pub const ADMISSION_SINCE_VERSION: u16 = 3;

/// The oldest format version this build still reads. Version 2 added the reason codes
/// `drained` and `pinned`, version 3 the `admission` list; older documents are read as they
/// were.
pub const OLDEST_FORMAT_VERSION: u16 = 1;

/// A CDN's entry in the snapshot, with its global figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotCdn {
    /// The CDN's id.
    pub id: String,
    /// Its static weight: the edge's layout when the snapshot has expired.
    pub static_weight_bp: u16,
    /// Its score in thousandths.
    pub score_permille: u16,
    /// Its target weight (the slot table converges to it).
    pub weight_bp: u16,
    /// Its state.
    pub state: CdnState,
    /// Why it has this weight.
    pub reason: Reason,
}

/// A CDN's figures within one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanEntry {
    /// Score in thousandths.
    pub score_permille: u16,
    /// Target weight.
    pub weight_bp: u16,
    /// State.
    pub state: CdnState,
    /// Why it has this weight.
    pub reason: Reason,
}

/// One group's figures and slot table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPlan {
    entries: Vec<PlanEntry>,
    table: Vec<u8>,
}

impl GroupPlan {
    /// Per CDN, in the snapshot's CDN order.
    pub fn entries(&self) -> &[PlanEntry] {
        &self.entries
    }

    /// The CDN index serving `slot`.
    pub fn slot_cdn(&self, slot: u16) -> Option<usize> {
        self.table.get(usize::from(slot)).map(|&c| usize::from(c))
    }
}

/// The controller's published view, as the edge uses it. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Wire", into = "Wire")]
pub struct HealthSnapshot {
    version: u16,
    seq: u64,
    generated_at_ms: u64,
    expires_at_ms: u64,
    cdns: Vec<SnapshotCdn>,
    table: Vec<u8>,
    groups: BTreeMap<String, GroupPlan>,
    admission: Vec<AdmissionPlan>,
}

/// Where the edge sends a viewer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assignment<'a> {
    /// The CDN's id.
    pub cdn: &'a str,
    /// The CDN's index in the snapshot.
    pub cdn_index: usize,
    /// The viewer's slot.
    pub slot: u16,
    /// The group whose table decided, if any.
    pub group: Option<&'a str>,
    /// [`Reason::Steered`] or [`Reason::SnapshotStale`].
    pub reason: Reason,
}

/// Why snapshot bytes were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not JSON, or not the shape of a snapshot (wrong type, missing or unknown field).
    Malformed {
        /// 1-based line of the problem (0 if unknown).
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A format version this build does not know.
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// A reason code newer than the document's format version (`drained` or `pinned` in a
    /// version-1 document): a decoder of that version would not know it.
    ReasonNotInVersion {
        /// The document's format version.
        version: u16,
        /// The code.
        reason: Reason,
    },
    /// The CDN list is empty.
    NoCdns,
    /// More CDNs than a slot character can name.
    TooManyCdns {
        /// How many were listed.
        count: usize,
    },
    /// A CDN id is empty, too long, not printable ASCII or repeated.
    InvalidCdnId {
        /// The offending id.
        id: String,
    },
    /// A group key is empty, too long or not printable ASCII, or there are too many groups.
    InvalidGroup {
        /// The offending key.
        group: String,
    },
    /// Static weights do not add up to 10000.
    StaticWeightsSum {
        /// What they add up to.
        sum: u32,
    },
    /// Target weights (globally or in a group) do not add up to 10000.
    WeightsSum {
        /// The group, or `None` for the global weights.
        group: Option<String>,
        /// What they add up to.
        sum: u32,
    },
    /// A score above 1000 permille.
    ScoreOutOfRange {
        /// The group, or `None` for the global figures.
        group: Option<String>,
        /// The CDN index.
        cdn: usize,
    },
    /// A group lists a different number of CDNs than the snapshot.
    EntryCount {
        /// The group.
        group: String,
        /// How many it lists.
        found: usize,
    },
    /// A slot table has a size outside 100 to 10000, or a group's differs from the global one.
    SlotCount {
        /// The group, or `None` for the global table.
        group: Option<String>,
        /// Its size.
        found: usize,
    },
    /// A slot names no CDN (unknown character, or an index past the CDN list).
    SlotOutOfRange {
        /// The group, or `None` for the global table.
        group: Option<String>,
        /// The slot.
        slot: usize,
    },
    /// The snapshot expires before it was generated.
    Expiry {
        /// Generation time.
        generated_at_ms: u64,
        /// Expiry time.
        expires_at_ms: u64,
    },
    /// An `admission` list in a document older than format version 3.
    AdmissionNotInVersion {
        /// The document's format version.
        version: u16,
    },
    /// An admission event id is empty, too long, not `A-Z a-z 0-9 - _ .` or repeated.
    InvalidAdmissionEvent {
        /// The offending id.
        event: String,
    },
    /// An admission plan with a cap of zero.
    AdmissionZeroCap {
        /// The event.
        event: String,
    },
    /// More admission plans than an edge accepts.
    TooManyAdmissionPlans {
        /// How many were listed.
        count: usize,
    },
}

impl From<AdmissionError> for DecodeError {
    fn from(e: AdmissionError) -> Self {
        match e {
            AdmissionError::InvalidEvent { event } => DecodeError::InvalidAdmissionEvent { event },
            AdmissionError::ZeroCap { event } => DecodeError::AdmissionZeroCap { event },
            AdmissionError::TooMany { count } => DecodeError::TooManyAdmissionPlans { count },
        }
    }
}

fn scope(group: &Option<String>) -> &str {
    group.as_deref().unwrap_or("global")
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Malformed { line, column } => {
                write!(f, "malformed snapshot json at line {line} column {column}")
            }
            DecodeError::UnsupportedVersion { found } => write!(
                f,
                "unsupported snapshot format version {found}, this build reads {FORMAT_VERSION}"
            ),
            DecodeError::ReasonNotInVersion { version, reason } => write!(
                f,
                "reason {reason} is not part of snapshot format version {version}"
            ),
            DecodeError::NoCdns => f.write_str("snapshot lists no cdn"),
            DecodeError::TooManyCdns { count } => {
                write!(f, "snapshot lists {count} cdns, at most {MAX_CDNS} allowed")
            }
            DecodeError::InvalidCdnId { id } => write!(f, "invalid or repeated cdn id {id:?}"),
            DecodeError::InvalidGroup { group } => write!(f, "invalid group key {group:?}"),
            DecodeError::StaticWeightsSum { sum } => {
                write!(f, "static weights add up to {sum} basis points, not 10000")
            }
            DecodeError::WeightsSum { group, sum } => write!(
                f,
                "{} weights add up to {sum} basis points, not 10000",
                scope(group)
            ),
            DecodeError::ScoreOutOfRange { group, cdn } => {
                write!(
                    f,
                    "{} score of cdn {cdn} is above 1000 permille",
                    scope(group)
                )
            }
            DecodeError::EntryCount { group, found } => {
                write!(
                    f,
                    "group {group:?} lists {found} cdns, not the snapshot's count"
                )
            }
            DecodeError::SlotCount { group, found } => {
                write!(f, "{} slot table has {found} slots", scope(group))
            }
            DecodeError::SlotOutOfRange { group, slot } => {
                write!(f, "{} slot {slot} names no cdn", scope(group))
            }
            DecodeError::Expiry {
                generated_at_ms,
                expires_at_ms,
            } => write!(
                f,
                "snapshot expires at {expires_at_ms} ms, before it was generated at \
                 {generated_at_ms} ms"
            ),
            DecodeError::AdmissionNotInVersion { version } => write!(
                f,
                "admission plans are not part of snapshot format version {version}"
            ),
            DecodeError::InvalidAdmissionEvent { event } => AdmissionError::InvalidEvent {
                event: event.clone(),
            }
            .fmt(f),
            DecodeError::AdmissionZeroCap { event } => AdmissionError::ZeroCap {
                event: event.clone(),
            }
            .fmt(f),
            DecodeError::TooManyAdmissionPlans { count } => {
                AdmissionError::TooMany { count: *count }.fmt(f)
            }
        }
    }
}

impl core::error::Error for DecodeError {}

/// The JSON shape, before validation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    format_version: u16,
    seq: u64,
    generated_at_ms: u64,
    expires_at_ms: u64,
    cdns: Vec<SnapshotCdn>,
    slots: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    groups: BTreeMap<String, WireGroup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    admission: Vec<AdmissionPlan>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireGroup {
    cdns: Vec<PlanEntry>,
    slots: String,
}

/// Only the version, read before anything else so a future format is named as such.
#[derive(Deserialize)]
struct VersionProbe {
    format_version: u16,
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_ID_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

fn malformed(e: &serde_json::Error) -> DecodeError {
    DecodeError::Malformed {
        line: e.line(),
        column: e.column(),
    }
}

/// Decodes a slot string against `n` CDNs and the expected size.
fn decode_table(
    slots: &str,
    n: usize,
    expected: Option<usize>,
    group: &Option<String>,
) -> Result<Vec<u8>, DecodeError> {
    let len = slots.len();
    let size_ok = match expected {
        Some(e) => len == e,
        None => SLOTS_RANGE.contains(&u16::try_from(len).unwrap_or(u16::MAX)),
    };
    if !size_ok {
        return Err(DecodeError::SlotCount {
            group: group.clone(),
            found: len,
        });
    }
    slots
        .bytes()
        .enumerate()
        .map(|(slot, c)| match decode_char(c) {
            Some(i) if usize::from(i) < n => Ok(i),
            _ => Err(DecodeError::SlotOutOfRange {
                group: group.clone(),
                slot,
            }),
        })
        .collect()
}

fn check_entries<'a>(
    entries: impl Iterator<Item = (u16, u16)> + 'a,
    group: &Option<String>,
) -> Result<(), DecodeError> {
    let mut sum = 0u32;
    for (cdn, (score, weight)) in entries.enumerate() {
        if score > 1000 {
            return Err(DecodeError::ScoreOutOfRange {
                group: group.clone(),
                cdn,
            });
        }
        sum += u32::from(weight);
    }
    if sum != u32::from(BASIS_POINTS) {
        return Err(DecodeError::WeightsSum {
            group: group.clone(),
            sum,
        });
    }
    Ok(())
}

impl TryFrom<Wire> for HealthSnapshot {
    type Error = DecodeError;

    fn try_from(w: Wire) -> Result<Self, DecodeError> {
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&w.format_version) {
            return Err(DecodeError::UnsupportedVersion {
                found: w.format_version,
            });
        }
        let reasons = w.cdns.iter().map(|c| c.reason).chain(
            w.groups
                .values()
                .flat_map(|g| g.cdns.iter().map(|e| e.reason)),
        );
        for reason in reasons {
            if reason.since_format_version() > w.format_version {
                return Err(DecodeError::ReasonNotInVersion {
                    version: w.format_version,
                    reason,
                });
            }
        }
        if !w.admission.is_empty() && w.format_version < ADMISSION_SINCE_VERSION {
            return Err(DecodeError::AdmissionNotInVersion {
                version: w.format_version,
            });
        }
        admission::check(&w.admission)?;
        if w.expires_at_ms < w.generated_at_ms {
            return Err(DecodeError::Expiry {
                generated_at_ms: w.generated_at_ms,
                expires_at_ms: w.expires_at_ms,
            });
        }
        let n = w.cdns.len();
        if n == 0 {
            return Err(DecodeError::NoCdns);
        }
        if n > MAX_CDNS {
            return Err(DecodeError::TooManyCdns { count: n });
        }
        for (i, cdn) in w.cdns.iter().enumerate() {
            if !valid_key(&cdn.id) || w.cdns.iter().take(i).any(|o| o.id == cdn.id) {
                return Err(DecodeError::InvalidCdnId { id: cdn.id.clone() });
            }
        }
        let static_sum: u32 = w.cdns.iter().map(|c| u32::from(c.static_weight_bp)).sum();
        if static_sum != u32::from(BASIS_POINTS) {
            return Err(DecodeError::StaticWeightsSum { sum: static_sum });
        }
        check_entries(
            w.cdns.iter().map(|c| (c.score_permille, c.weight_bp)),
            &None,
        )?;
        let table = decode_table(&w.slots, n, None, &None)?;

        if w.groups.len() > MAX_GROUPS {
            let last = w.groups.keys().next_back().cloned().unwrap_or_default();
            return Err(DecodeError::InvalidGroup { group: last });
        }
        let mut groups = BTreeMap::new();
        for (key, g) in w.groups {
            if !valid_key(&key) {
                return Err(DecodeError::InvalidGroup { group: key });
            }
            if g.cdns.len() != n {
                return Err(DecodeError::EntryCount {
                    group: key,
                    found: g.cdns.len(),
                });
            }
            let scope = Some(key);
            check_entries(
                g.cdns.iter().map(|e| (e.score_permille, e.weight_bp)),
                &scope,
            )?;
            let group_table = decode_table(&g.slots, n, Some(table.len()), &scope)?;
            if let Some(key) = scope {
                groups.insert(
                    key,
                    GroupPlan {
                        entries: g.cdns,
                        table: group_table,
                    },
                );
            }
        }
        Ok(Self {
            version: w.format_version,
            seq: w.seq,
            generated_at_ms: w.generated_at_ms,
            expires_at_ms: w.expires_at_ms,
            cdns: w.cdns,
            table,
            groups,
            admission: w.admission,
        })
    }
}

impl From<HealthSnapshot> for Wire {
    fn from(s: HealthSnapshot) -> Self {
        Wire {
            format_version: s.version,
            seq: s.seq,
            generated_at_ms: s.generated_at_ms,
            expires_at_ms: s.expires_at_ms,
            cdns: s.cdns,
            slots: encode(&s.table),
            groups: s
                .groups
                .into_iter()
                .map(|(k, g)| {
                    (
                        k,
                        WireGroup {
                            cdns: g.entries,
                            slots: encode(&g.table),
                        },
                    )
                })
                .collect(),
            admission: s.admission,
        }
    }
}

impl HealthSnapshot {
    /// Assembles a snapshot from the model's parts; the model guarantees the invariants and the
    /// round-trip tests hold it to them.
    pub(crate) fn from_parts(
        seq: u64,
        generated_at_ms: u64,
        expires_at_ms: u64,
        cdns: Vec<SnapshotCdn>,
        table: Vec<u8>,
        groups: BTreeMap<String, (Vec<PlanEntry>, Vec<u8>)>,
    ) -> Self {
        let groups = groups
            .into_iter()
            .map(|(k, (entries, table))| (k, GroupPlan { entries, table }))
            .collect();
        Self {
            version: FORMAT_VERSION,
            seq,
            generated_at_ms,
            expires_at_ms,
            cdns,
            table,
            groups,
            admission: Vec::new(),
        }
    }

    /// This snapshot with `plans` as its admission list (replacing any), written as format
    /// version 3: how the controller adds its waiting rooms to the model's snapshot. The plans
    /// are checked as decoding checks them.
    pub fn with_admission(mut self, plans: Vec<AdmissionPlan>) -> Result<Self, DecodeError> {
        admission::check(&plans)?;
        self.admission = plans;
        self.version = FORMAT_VERSION;
        Ok(self)
    }

    /// The admission plan of `event`, if the controller runs a waiting room for it.
    pub fn admission(&self, event: &str) -> Option<&AdmissionPlan> {
        self.admission.iter().find(|p| p.event == event)
    }

    /// Every admission plan, in the controller's order.
    pub fn admission_plans(&self) -> &[AdmissionPlan] {
        &self.admission
    }

    /// Decodes and validates snapshot JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        let probe: VersionProbe = serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&probe.format_version) {
            return Err(DecodeError::UnsupportedVersion {
                found: probe.format_version,
            });
        }
        let wire: Wire = serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
        Self::try_from(wire)
    }

    /// Encodes as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // serde_json fails only on maps with non-string keys or on a failing Serialize impl;
        // `Wire` has neither, so the empty fallback is unreachable (and would fail decoding
        // loudly rather than steer anyone).
        serde_json::to_vec(&Wire::from(self.clone())).unwrap_or_default()
    }

    /// Format version: as decoded, or [`FORMAT_VERSION`] for a snapshot made by this build.
    pub fn format_version(&self) -> u16 {
        self.version
    }

    /// The controller's evaluation counter: higher is newer.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When the controller generated it, in unix milliseconds.
    pub fn generated_at_ms(&self) -> u64 {
        self.generated_at_ms
    }

    /// After this time the edge ignores the slot table and uses the static layout.
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms
    }

    /// Slots in every table.
    pub fn slots(&self) -> u16 {
        // Decoding and the model keep the table within 100 to 10000 slots.
        u16::try_from(self.table.len()).unwrap_or(u16::MAX)
    }

    /// The CDNs with their global figures, in index order.
    pub fn cdns(&self) -> &[SnapshotCdn] {
        &self.cdns
    }

    /// The CDN index serving `slot` in the global table.
    pub fn slot_cdn(&self, slot: u16) -> Option<usize> {
        self.table.get(usize::from(slot)).map(|&c| usize::from(c))
    }

    /// A group's figures and table, if it has its own.
    pub fn group(&self, key: &str) -> Option<&GroupPlan> {
        self.groups.get(key)
    }

    /// The groups with their own table, in key order.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &GroupPlan)> {
        self.groups.iter().map(|(k, g)| (k.as_str(), g))
    }

    /// Whether the edge should stop trusting the table at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms > self.expires_at_ms
    }

    /// The edge's rule: which CDN serves this viewer.
    ///
    /// The viewer's slot is [`session_slot`]`(session_id, slots)`. While the snapshot is fresh,
    /// the first of `groups` (most specific first, e.g. `["asn:3320", "country:DE"]`) that has a
    /// table decides, else the global table (reason `steered`). Once it has expired, the static
    /// layout decides (reason `snapshot_stale`): the controller is gone, so its last word is no
    /// better than the operator's plan. Returns `None` only for a snapshot without CDNs, which
    /// decoding and the model never produce.
    pub fn assign<'a>(
        &'a self,
        session_id: &[u8],
        groups: &[&str],
        now_ms: u64,
    ) -> Option<Assignment<'a>> {
        let slot = session_slot(session_id, self.slots());
        let (index, group, reason) = if self.is_expired(now_ms) {
            let weights: Vec<u16> = self.cdns.iter().map(|c| c.static_weight_bp).collect();
            (
                static_slot_cdn(&weights, slot, self.slots())?,
                None,
                Reason::SnapshotStale,
            )
        } else {
            let found = groups
                .iter()
                .find_map(|g| self.groups.get_key_value(*g))
                .and_then(|(k, plan)| Some((plan.slot_cdn(slot)?, Some(k.as_str()))));
            match found {
                Some((index, group)) => (index, group, Reason::Steered),
                None => (self.slot_cdn(slot)?, None, Reason::Steered),
            }
        };
        let cdn = self.cdns.get(index)?;
        Some(Assignment {
            cdn: &cdn.id,
            cdn_index: index,
            slot,
            group,
            reason,
        })
    }

    /// The viewer's CDN first, then the other usable CDNs by weight: the `PATHWAY-PRIORITY` of an
    /// HLS Content Steering manifest (Apple's HLS Content Steering specification, the
    /// `EXT-X-CONTENT-STEERING` tag of draft-pantos-hls-rfc8216bis section 4.4.6.6), so a player
    /// that loses its CDN falls over to the next best. Gated CDNs are left out while the snapshot is
    /// fresh; once it has expired every CDN is listed, by static weight.
    pub fn pathway_priority<'a>(
        &'a self,
        session_id: &[u8],
        groups: &[&str],
        now_ms: u64,
    ) -> Vec<&'a str> {
        let Some(first) = self.assign(session_id, groups, now_ms) else {
            return Vec::new();
        };
        let entries: Vec<(u16, CdnState)> = match first.group.and_then(|g| self.groups.get(g)) {
            Some(plan) => plan
                .entries
                .iter()
                .map(|e| (e.weight_bp, e.state))
                .collect(),
            None => self.cdns.iter().map(|c| (c.weight_bp, c.state)).collect(),
        };
        let stale = first.reason == Reason::SnapshotStale;
        let mut rest: Vec<(u16, usize, &str)> = self
            .cdns
            .iter()
            .enumerate()
            .zip(&entries)
            .filter(|((i, _), (_, state))| {
                *i != first.cdn_index && (stale || *state != CdnState::Gated)
            })
            .map(|((i, c), (weight, _))| {
                (
                    if stale { c.static_weight_bp } else { *weight },
                    i,
                    c.id.as_str(),
                )
            })
            .collect();
        rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        core::iter::once(first.cdn)
            .chain(rest.into_iter().map(|(_, _, id)| id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::admission::AdmissionState;
    use alloc::string::ToString;
    use alloc::vec;

    fn entry(weight_bp: u16) -> PlanEntry {
        PlanEntry {
            score_permille: 800,
            weight_bp,
            state: CdnState::Healthy,
            reason: Reason::Healthy,
        }
    }

    fn sample() -> HealthSnapshot {
        let cdns = vec![
            SnapshotCdn {
                id: "a".into(),
                static_weight_bp: 5000,
                score_permille: 900,
                weight_bp: 10_000,
                state: CdnState::Healthy,
                reason: Reason::Healthy,
            },
            SnapshotCdn {
                id: "b".into(),
                static_weight_bp: 5000,
                score_permille: 10,
                weight_bp: 0,
                state: CdnState::Gated,
                reason: Reason::GatedErrorRate,
            },
        ];
        let mut groups = BTreeMap::new();
        groups.insert(
            "country:DE".to_string(),
            (vec![entry(0), entry(10_000)], vec![1; 100]),
        );
        HealthSnapshot::from_parts(7, 1000, 61_000, cdns, vec![0; 100], groups)
    }

    #[test]
    fn json_round_trips() {
        let s = sample();
        let back = HealthSnapshot::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.slots(), 100);
    }

    #[test]
    fn future_version_is_named_as_such() {
        let json = br#"{"format_version":4,"something_new":true}"#;
        assert_eq!(
            HealthSnapshot::from_json(json),
            Err(DecodeError::UnsupportedVersion { found: 4 })
        );
    }

    fn plan(event: &str) -> AdmissionPlan {
        AdmissionPlan {
            event: event.into(),
            state: AdmissionState::Open,
            doors_open_ms: 1_767_225_600_000,
            frontier_ms: 1_767_225_590_000,
            rate_per_min: 1200,
            advance_ms_per_s: 250,
            waiting: 4000,
            active: 900,
            cap: Some(50_000),
        }
    }

    #[test]
    fn admission_plans_round_trip_in_version_3() {
        let mut uncapped = plan("semi.b");
        uncapped.cap = None;
        uncapped.state = AdmissionState::BeforeDoors;
        let s = sample()
            .with_admission(vec![plan("final-2026"), uncapped.clone()])
            .unwrap();
        let json = s.to_json();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["format_version"], 3);
        assert_eq!(v["admission"][0]["state"], "open");
        assert_eq!(v["admission"][1]["state"], "before_doors");
        // No cap is left out rather than written as null.
        assert!(v["admission"][1].get("cap").is_none());
        let back = HealthSnapshot::from_json(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.admission("final-2026"), Some(&plan("final-2026")));
        assert_eq!(back.admission("semi.b"), Some(&uncapped));
        assert_eq!(back.admission("other"), None);
        assert_eq!(back.admission_plans().len(), 2);
    }

    #[test]
    fn a_snapshot_without_plans_writes_no_admission_field() {
        let v: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        assert!(v.get("admission").is_none());
        let mut empty = v.clone();
        empty["admission"] = serde_json::json!([]);
        let s = HealthSnapshot::from_json(&serde_json::to_vec(&empty).unwrap()).unwrap();
        assert!(s.admission_plans().is_empty());
    }

    #[test]
    fn older_versions_decode_without_plans_and_cannot_carry_them() {
        let with = sample().with_admission(vec![plan("final-2026")]).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&with.to_json()).unwrap();
        for version in [1, 2] {
            v["format_version"] = version.into();
            let bytes = serde_json::to_vec(&v).unwrap();
            assert_eq!(
                HealthSnapshot::from_json(&bytes),
                Err(DecodeError::AdmissionNotInVersion { version })
            );
            let mut old = v.clone();
            old.as_object_mut().unwrap().remove("admission");
            let s = HealthSnapshot::from_json(&serde_json::to_vec(&old).unwrap()).unwrap();
            assert_eq!(s.format_version(), version);
            assert_eq!(s.admission("final-2026"), None);
        }
    }

    #[test]
    fn bad_admission_plans_are_refused_each_with_its_reason() {
        let base: serde_json::Value = serde_json::from_slice(
            &sample()
                .with_admission(vec![plan("final-2026")])
                .unwrap()
                .to_json(),
        )
        .unwrap();
        let case = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = base.clone();
            f(&mut v);
            HealthSnapshot::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err()
        };
        assert_eq!(
            case(&|v| v["admission"][0]["cap"] = 0.into()),
            DecodeError::AdmissionZeroCap {
                event: "final-2026".into()
            }
        );
        assert_eq!(
            case(&|v| v["admission"][0]["event"] = "a/b".into()),
            DecodeError::InvalidAdmissionEvent {
                event: "a/b".into()
            }
        );
        assert_eq!(
            case(&|v| {
                let first = v["admission"][0].clone();
                v["admission"].as_array_mut().unwrap().push(first);
            }),
            DecodeError::InvalidAdmissionEvent {
                event: "final-2026".into()
            }
        );
        assert!(matches!(
            case(&|v| v["admission"][0]["state"] = "closed".into()),
            DecodeError::Malformed { .. }
        ));
        assert!(matches!(
            case(&|v| v["admission"][0]["frontier_ms"] = (-1).into()),
            DecodeError::Malformed { .. }
        ));
        assert!(matches!(
            case(&|v| v["admission"][0]["extra"] = 1.into()),
            DecodeError::Malformed { .. }
        ));
        assert!(matches!(
            case(&|v| {
                v["admission"][0].as_object_mut().unwrap().remove("waiting");
            }),
            DecodeError::Malformed { .. }
        ));
        let mut bad = plan("x");
        bad.cap = Some(0);
        assert_eq!(
            sample().with_admission(vec![bad]),
            Err(DecodeError::AdmissionZeroCap { event: "x".into() })
        );
    }

    #[test]
    fn group_table_decides_for_its_viewers() {
        let s = sample();
        let a = s.assign(b"viewer", &["asn:1", "country:DE"], 2000).unwrap();
        assert_eq!(
            (a.cdn, a.group, a.reason),
            ("b", Some("country:DE"), Reason::Steered)
        );
        let a = s.assign(b"viewer", &["country:FR"], 2000).unwrap();
        assert_eq!((a.cdn, a.group), ("a", None));
    }

    #[test]
    fn expired_snapshot_uses_the_static_layout() {
        let s = sample();
        let a = s.assign(b"viewer", &[], 61_001).unwrap();
        assert_eq!(a.reason, Reason::SnapshotStale);
        let expected = if a.slot < 50 { "a" } else { "b" };
        assert_eq!(a.cdn, expected);
    }

    #[test]
    fn pathway_priority_leaves_out_gated_cdns() {
        let s = sample();
        assert_eq!(s.pathway_priority(b"viewer", &[], 2000), vec!["a"]);
        assert_eq!(s.pathway_priority(b"viewer", &[], 61_001).len(), 2);
    }

    #[test]
    fn serde_deserialisation_validates_too() {
        let mut v: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        v["cdns"][0]["weight_bp"] = 9999.into();
        let err = serde_json::from_value::<HealthSnapshot>(v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "global weights add up to 9999 basis points, not 10000"
        );
    }
}
