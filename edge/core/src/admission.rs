//! Phased admission: the waiting room, decided at the edge with no state per viewer.
//!
//! An event with `admission` in its configuration admits ticket holders in phases. A viewer
//! who is not admitted yet gets a *queue position*, a virtual arrival time in Unix ms, signed
//! into a cookie: the time of arrival for a viewer who came after the doors opened, and for one
//! who came before (the *pre-queue*) a place drawn from a keyed hash of the ticket's subject
//! within the last [`PREQUEUE_SPAN_MS`] before the doors open. So the pre-queue is shuffled
//! (arriving a few seconds, or hours, early gives no advantage, and asking again never draws a
//! new place), is admitted before anyone who came later, and after it the order is first come,
//! first served.
//!
//! The steering controller publishes, per event in its signed health snapshot, a *frontier*
//! (`usher_shared::health::AdmissionPlan`): a viewer whose position is below it is admitted.
//! The controller moves it at the admission rate, never past the active cap, and not while
//! admission is paused. Edges tell it about arrivals with one line per new position
//! ([`arrival_line`]) on the same stream as CMCD, so it knows how many viewers each millisecond
//! of the frontier admits; a viewer's place itself lives only in the viewer's cookie.
//!
//! An admitted viewer gets a signed *admission* (a second cookie) which the multivariant
//! playlist request checks. Both cookies are bound to the ticket's subject, so neither can be
//! handed to another viewer: the other viewer's ticket does not match.
//!
//! What this module does not do: decide the frontier (the controller does), or hold state. Its
//! key design decision is that *nothing admits by accident*: a cookie that fails any check is
//! refused with its own reason code and the viewer queues again at the back; an event whose
//! plan is missing or stale admits nobody new (those already admitted play on).

use std::fmt;

use usher_shared::health::{AdmissionPlan, AdmissionState, PREQUEUE_SPAN_MS};
use usher_shared::token::SecretKey;
use usher_shared::token::edgeauth::EdgeAuth;

use crate::decision::hex;

/// The cookie holding a viewer's signed queue position.
pub const QUEUE_COOKIE: &str = "usher_queue";

/// The cookie holding a viewer's signed admission.
pub const ADMISSION_COOKIE: &str = "usher_admission";

/// How far in the future a cookie's issue time may be, ms, before it is refused as clock skew:
/// edges' clocks are synchronised to well within this, so a cookie further ahead was not made
/// by an edge that kept time.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// How long an admission lasts at most, ms (and never past the ticket's expiry).
pub const ADMISSION_LIFETIME_MS: u64 = 12 * 60 * 60 * 1000;

/// How long a queue cookie is kept by the browser, seconds.
pub const QUEUE_COOKIE_MAX_AGE_SECS: u64 = 24 * 60 * 60;

/// The longest cookie value read; real ones are about 120 bytes.
const MAX_PASS_LEN: usize = 512;

/// The label the cookies' keys are derived under ([`EdgeAuth::derived_keys`]).
const KEY_LABEL: &str = "admission-v1";

/// Why a queue cookie or an admission was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PassError {
    /// Not the shape of one (fields, version, numbers).
    Malformed,
    /// The signature does not match: forged or altered.
    BadSignature,
    /// Signed for another event.
    WrongEvent,
    /// Signed for another viewer (another ticket subject).
    OtherViewer,
    /// Issued further in the future than clocks drift ([`MAX_CLOCK_SKEW_MS`]).
    FromTheFuture,
    /// An admission past its expiry.
    Expired,
}

impl PassError {
    /// The code's suffix, after `queue_` or `admission_`.
    pub fn code(self) -> &'static str {
        match self {
            PassError::Malformed => "malformed",
            PassError::BadSignature => "bad_signature",
            PassError::WrongEvent => "wrong_event",
            PassError::OtherViewer => "other_viewer",
            PassError::FromTheFuture => "clock_skew",
            PassError::Expired => "expired",
        }
    }
}

impl fmt::Display for PassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PassError::Malformed => "not a well-formed pass",
            PassError::BadSignature => "the signature does not match",
            PassError::WrongEvent => "signed for another event",
            PassError::OtherViewer => "signed for another viewer",
            PassError::FromTheFuture => "issued in the future (clock skew)",
            PassError::Expired => "expired",
        })
    }
}

/// A viewer's binding: a keyed hash of the event and the ticket's subject, so a pass names its
/// viewer without carrying the subject.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Viewer([u8; 16]);

impl fmt::Debug for Viewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Viewer(")?;
        f.write_str(&hex(&self.0))?;
        f.write_str(")")
    }
}

/// A verified queue position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuePass {
    /// The position: a virtual arrival time, Unix ms.
    pub position: u64,
    /// When the edge issued it, Unix ms.
    pub issued_ms: u64,
}

/// A verified admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// When the edge issued it, Unix ms.
    pub issued_ms: u64,
    /// When it stops admitting, Unix ms.
    pub expires_ms: u64,
}

/// The keys that sign and check the waiting room's cookies, derived from the session key (see
/// [`EdgeAuth::derived_keys`]): the first signs, every one verifies (a rotation has two).
/// `Debug` never prints key material.
pub struct PassKeys {
    keys: Vec<SecretKey>,
}

impl fmt::Debug for PassKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassKeys")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl PassKeys {
    /// The waiting room's keys for an edge whose session tokens `session` signs.
    pub fn new(session: &EdgeAuth) -> Self {
        PassKeys {
            keys: session.derived_keys(KEY_LABEL),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        self.keys
            .first()
            .map(|key| key.sign(parts))
            .unwrap_or_default()
    }

    /// The binding of `identity` (the ticket's subject) for `event`.
    pub fn viewer(&self, event: &str, identity: &str) -> Viewer {
        let mac = self.mac(&[b"viewer\0", event.as_bytes(), b"\0", identity.as_bytes()]);
        let mut out = [0u8; 16];
        for (o, m) in out.iter_mut().zip(&mac) {
            *o = *m;
        }
        Viewer(out)
    }

    /// Where a viewer who arrives at `now_ms` queues for an event whose doors open at
    /// `doors_open_ms`: the time itself once the doors are open, else a place in the shuffled
    /// pre-queue drawn from `viewer` (the same place however often the viewer asks).
    pub fn position(&self, viewer: Viewer, now_ms: u64, doors_open_ms: u64) -> u64 {
        if now_ms >= doors_open_ms {
            return now_ms;
        }
        let mac = self.mac(&[b"prequeue\0", &viewer.0]);
        let mut draw = [0u8; 8];
        for (d, m) in draw.iter_mut().zip(&mac) {
            *d = *m;
        }
        let offset = u64::from_be_bytes(draw) % PREQUEUE_SPAN_MS;
        doors_open_ms.saturating_sub(PREQUEUE_SPAN_MS) + offset
    }

    /// The signed queue cookie value for `position`.
    pub fn issue_queue(&self, event: &str, viewer: Viewer, position: u64, now_ms: u64) -> String {
        self.issue("q1", event, position, now_ms, viewer)
    }

    /// The signed admission cookie value, valid until `expires_ms`.
    pub fn issue_admission(
        &self,
        event: &str,
        viewer: Viewer,
        now_ms: u64,
        expires_ms: u64,
    ) -> String {
        self.issue("a1", event, now_ms, expires_ms, viewer)
    }

    /// `{version}~{event}~{a}~{b}~{viewer}~{mac}` (`q1` a queue pass, `a1` an admission), the
    /// MAC (HMAC-SHA256, hex) over everything before its `~`. Event ids never contain `~` (the
    /// configuration allows `A-Za-z0-9._-`).
    fn issue(&self, version: &str, event: &str, a: u64, b: u64, viewer: Viewer) -> String {
        let body = format!("{version}~{event}~{a}~{b}~{}", hex(&viewer.0));
        let mac = self.mac(&[body.as_bytes()]);
        format!("{body}~{}", hex(&mac))
    }

    /// Checks a queue cookie for `event` and `viewer` at `now_ms`.
    pub fn check_queue(
        &self,
        value: &str,
        event: &str,
        viewer: Viewer,
        now_ms: u64,
    ) -> Result<QueuePass, PassError> {
        let (position, issued_ms) = self.check("q1", value, event, viewer)?;
        if issued_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(PassError::FromTheFuture);
        }
        Ok(QueuePass {
            position,
            issued_ms,
        })
    }

    /// Checks an admission cookie for `event` and `viewer` at `now_ms`.
    pub fn check_admission(
        &self,
        value: &str,
        event: &str,
        viewer: Viewer,
        now_ms: u64,
    ) -> Result<Admission, PassError> {
        let (issued_ms, expires_ms) = self.check("a1", value, event, viewer)?;
        if issued_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(PassError::FromTheFuture);
        }
        if expires_ms <= now_ms {
            return Err(PassError::Expired);
        }
        Ok(Admission {
            issued_ms,
            expires_ms,
        })
    }

    /// Shape, then signature (in constant time, with every key), then event and viewer: a
    /// forged pass says so before anything it claims is believed.
    fn check(
        &self,
        expected_version: &str,
        value: &str,
        event: &str,
        viewer: Viewer,
    ) -> Result<(u64, u64), PassError> {
        if value.len() > MAX_PASS_LEN {
            return Err(PassError::Malformed);
        }
        let (body, mac) = value.rsplit_once('~').ok_or(PassError::Malformed)?;
        let fields: Vec<&str> = body.split('~').collect();
        let [version, signed_event, a, b, signed_viewer] = fields.as_slice() else {
            return Err(PassError::Malformed);
        };
        if *version != expected_version {
            return Err(PassError::Malformed);
        }
        let number = |s: &str| {
            (!s.is_empty() && s.len() <= 20 && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        let (Some(a), Some(b)) = (number(a), number(b)) else {
            return Err(PassError::Malformed);
        };
        let (Some(tag), Some(bound)) = (unhex(mac), unhex(signed_viewer)) else {
            return Err(PassError::Malformed);
        };
        if tag.len() != 32 || bound.len() != 16 {
            return Err(PassError::Malformed);
        }
        if !self.keys.iter().any(|k| k.verify(&[body.as_bytes()], &tag)) {
            return Err(PassError::BadSignature);
        }
        if *signed_event != event {
            return Err(PassError::WrongEvent);
        }
        if bound != viewer.0 {
            return Err(PassError::OtherViewer);
        }
        Ok((a, b))
    }
}

/// Where a viewer with `position` stands against the event's published plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Below the frontier: admit.
    Admitted,
    /// Waiting.
    Waiting {
        /// The controller's state of admission; `None` without a fresh plan.
        state: Option<AdmissionState>,
        /// Estimated wait, ms; `None` when the frontier is not moving or unknown.
        wait_ms: Option<u64>,
    },
}

/// Whether `position` is admitted by `plan` (the event's plan from a fresh, verified snapshot;
/// `None` admits nobody).
pub fn standing(plan: Option<&AdmissionPlan>, position: u64) -> Standing {
    match plan {
        Some(plan) if plan.admits(position) => Standing::Admitted,
        Some(plan) => Standing::Waiting {
            state: Some(plan.state),
            wait_ms: plan.wait_ms(position),
        },
        None => Standing::Waiting {
            state: None,
            wait_ms: None,
        },
    }
}

/// The state's name for the waiting page.
pub fn state_name(state: Option<AdmissionState>) -> &'static str {
    match state {
        Some(AdmissionState::BeforeDoors) => "before_doors",
        Some(AdmissionState::Open) => "open",
        Some(AdmissionState::Paused) => "paused",
        Some(AdmissionState::Full) => "full",
        None => "unknown",
    }
}

/// The line that tells the controller a new position was issued.
pub fn arrival_line(at_ms: u64, event: &str, position: u64) -> String {
    serde_json::json!({"at": at_ms, "event": event, "kind": "arrival", "position": position})
        .to_string()
}

/// The line that tells the controller a viewer was admitted.
pub fn admitted_line(at_ms: u64, event: &str, position: u64) -> String {
    serde_json::json!({"at": at_ms, "event": event, "kind": "admitted", "position": position})
        .to_string()
}

/// Lower-case hex only: the edge writes lower case, and one spelling per pass keeps it one
/// string.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [h, l] => Some(digit(*h)? << 4 | digit(*l)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use usher_shared::token::Algorithm;
    use usher_shared::token::edgeauth::Options;

    const NOW: u64 = 1_767_225_600_000;
    const DOORS: u64 = NOW + 600_000;

    fn keys_with(hex_key: &str) -> PassKeys {
        let auth = EdgeAuth::from_hex(hex_key, Algorithm::Sha256, Options::default()).unwrap();
        PassKeys::new(&auth)
    }

    fn keys() -> PassKeys {
        keys_with("00112233445566778899aabbccddeeff")
    }

    #[test]
    fn a_queue_pass_round_trips_for_its_viewer_and_event() {
        let k = keys();
        let v = k.viewer("final", "viewer-1");
        let cookie = k.issue_queue("final", v, NOW - 5, NOW);
        assert!(cookie.starts_with("q1~final~"), "{cookie}");
        assert_eq!(
            k.check_queue(&cookie, "final", v, NOW + 1_000),
            Ok(QueuePass {
                position: NOW - 5,
                issued_ms: NOW
            })
        );
    }

    #[test]
    fn a_pass_for_another_viewer_event_or_kind_is_refused_for_that_reason() {
        let k = keys();
        let (v1, v2) = (k.viewer("final", "viewer-1"), k.viewer("final", "viewer-2"));
        let queue = k.issue_queue("final", v1, NOW, NOW);
        assert_eq!(
            k.check_queue(&queue, "final", v2, NOW),
            Err(PassError::OtherViewer)
        );
        assert_eq!(
            k.check_queue(&queue, "semi", k.viewer("semi", "viewer-1"), NOW),
            Err(PassError::WrongEvent)
        );
        // A queue pass is not an admission, even with a valid signature.
        assert_eq!(
            k.check_admission(&queue, "final", v1, NOW),
            Err(PassError::Malformed)
        );
    }

    #[test]
    fn a_forged_or_altered_pass_is_a_bad_signature_and_another_key_never_verifies() {
        let k = keys();
        let v = k.viewer("final", "viewer-1");
        let cookie = k.issue_queue("final", v, NOW, NOW);
        // Moving oneself to the front of the queue.
        let earlier = cookie.replacen(&format!("~{NOW}~"), &format!("~{}~", NOW - 60_000), 1);
        assert_ne!(earlier, cookie);
        assert_eq!(
            k.check_queue(&earlier, "final", v, NOW),
            Err(PassError::BadSignature)
        );
        let other = keys_with("ffeeddccbbaa99887766554433221100");
        assert_eq!(
            other.check_queue(&cookie, "final", other.viewer("final", "viewer-1"), NOW),
            Err(PassError::BadSignature)
        );
    }

    #[test]
    fn malformed_passes_are_refused_as_such_never_with_a_panic() {
        let k = keys();
        let v = k.viewer("final", "viewer-1");
        let good = k.issue_queue("final", v, NOW, NOW);
        for bad in [
            String::new(),
            "~".to_owned(),
            "q1~final~1~2~00~00".to_owned(),
            "q2~final~1~2~00112233445566778899aabbccddeeff~00".to_owned(),
            good.replace("q1~", "q1~x~"),
            good.replacen(&format!("~{NOW}~"), "~-1~", 1),
            good.replacen(&format!("~{NOW}~"), "~99999999999999999999999~", 1),
            good.to_uppercase(),
            "x".repeat(10_000),
            "q1~final~1~2~zz~zz".to_owned(),
            "q1~é~1~2~aé~bé".to_owned(),
        ] {
            assert_eq!(
                k.check_queue(&bad, "final", v, NOW),
                Err(PassError::Malformed),
                "{bad:.80}"
            );
        }
    }

    #[test]
    fn a_pass_from_beyond_the_clock_skew_is_refused_and_within_it_accepted() {
        let k = keys();
        let v = k.viewer("final", "viewer-1");
        let ahead = k.issue_queue("final", v, NOW, NOW + MAX_CLOCK_SKEW_MS);
        assert!(k.check_queue(&ahead, "final", v, NOW).is_ok());
        let beyond = k.issue_queue("final", v, NOW, NOW + MAX_CLOCK_SKEW_MS + 1);
        assert_eq!(
            k.check_queue(&beyond, "final", v, NOW),
            Err(PassError::FromTheFuture)
        );
        let admission =
            k.issue_admission("final", v, NOW + MAX_CLOCK_SKEW_MS + 1, NOW + 10_000_000);
        assert_eq!(
            k.check_admission(&admission, "final", v, NOW),
            Err(PassError::FromTheFuture)
        );
    }

    #[test]
    fn an_admission_admits_until_it_expires() {
        let k = keys();
        let v = k.viewer("final", "viewer-1");
        let a = k.issue_admission("final", v, NOW, NOW + 1_000);
        assert_eq!(
            k.check_admission(&a, "final", v, NOW + 999),
            Ok(Admission {
                issued_ms: NOW,
                expires_ms: NOW + 1_000
            })
        );
        assert_eq!(
            k.check_admission(&a, "final", v, NOW + 1_000),
            Err(PassError::Expired)
        );
    }

    #[test]
    fn after_the_doors_open_the_position_is_the_arrival_time() {
        let k = keys();
        let v = k.viewer("final", "viewer-1");
        assert_eq!(k.position(v, DOORS, DOORS), DOORS);
        assert_eq!(k.position(v, DOORS + 42, DOORS), DOORS + 42);
    }

    #[test]
    fn the_pre_queue_place_is_below_the_doors_the_same_on_every_ask_and_not_the_arrival_order() {
        let k = keys();
        let mut places = Vec::new();
        for i in 0..200u64 {
            let v = k.viewer("final", &format!("viewer-{i}"));
            // Viewer i arrives i seconds after the first, all before the doors open.
            let arrival = NOW + i * 1_000;
            let place = k.position(v, arrival, DOORS);
            assert!((DOORS - PREQUEUE_SPAN_MS..DOORS).contains(&place));
            assert_eq!(k.position(v, NOW + 599_000, DOORS), place, "asking again");
            places.push(place);
        }
        // Arrival order and place order are unrelated: count the pairs in arrival order that
        // are also in place order. In order would be all of them, reversed none; a shuffle
        // gives about half (Kendall's tau near 0).
        let pairs = places.len() * (places.len() - 1) / 2;
        let concordant = (0..places.len())
            .flat_map(|i| (i + 1..places.len()).map(move |j| (i, j)))
            .filter(|&(i, j)| places[i] < places[j])
            .count();
        let share = concordant as f64 / pairs as f64;
        assert!(
            (0.4..0.6).contains(&share),
            "{concordant} of {pairs} pairs in order"
        );
    }

    #[test]
    fn debug_output_holds_no_key_material() {
        let k = keys();
        let text = format!("{k:?}");
        assert_eq!(text, "PassKeys { keys: 1 }");
    }
}
