"""Two-way token interop with the reference libraries: PyJWT and akamai-edgeauth.

Driven by shared/tests/all/interop.rs; not meant to be run by hand, though it can be:

    interop.py library-cases --seed 7 --count 400 > cases.json
        Tokens made by the libraries, each with the verdict and reason Usher must give.
        JWT verdicts come from PyJWT itself (with the clock frozen at the case's `now`);
        akamai-edgeauth only mints, so EdgeAuth verdicts come from how each case was built
        (signed with another key, acl changed after signing, path outside the acl, ...).

    interop.py check-ours < ours.json
        Tokens minted by Usher. Each EdgeAuth token must be byte-identical to what the
        library mints from the same inputs; each JWT must verify in PyJWT with the same claims.
        Prints {"checked": N, "failures": [...]}.

Reasons are Usher's codes (docs/token-format.md). Exit status is 0 unless the harness itself
breaks; disagreements are data for the Rust test to report.
"""

import argparse
import datetime as _dt
import json
import random
import sys
import warnings

import jwt
import jwt.api_jwt
from akamai.edgeauth import EdgeAuth
from cryptography.hazmat.primitives.asymmetric import ec, rsa

BASE_NOW = 1_767_225_600  # 2026-01-01T00:00:00Z


class _FrozenClock:
    """PyJWT reads the wall clock; the cases need it at a chosen instant."""

    now_value = BASE_NOW

    @classmethod
    def install(cls):
        real = _dt.datetime

        class Frozen(real):
            @classmethod
            def now(cls_, tz=None):  # noqa: N805 - mirrors datetime.now
                return real.fromtimestamp(cls.now_value, tz)

        jwt.api_jwt.datetime = Frozen


_FrozenClock.install()
# Short HS512 keys in the wrong-algorithm cases are deliberate.
warnings.simplefilter("ignore")


def glob_match(pattern, path):
    """Usher's scope rule, written independently: '*' any run (slashes too), '?' one char."""
    import re

    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    return re.fullmatch(regex, path, flags=re.DOTALL) is not None


# --------------------------------------------------------------------------------------------
# JWT: PyJWT makes the tokens and gives the verdicts.

PYJWT_REASONS = [
    (jwt.exceptions.InvalidAlgorithmError, "alg_not_allowed"),
    (jwt.exceptions.InvalidSignatureError, "bad_signature"),
    (jwt.exceptions.ExpiredSignatureError, "expired"),
    (jwt.exceptions.ImmatureSignatureError, "not_yet_valid"),
    (jwt.exceptions.InvalidAudienceError, "bad_audience"),
    (jwt.exceptions.InvalidIssuerError, "bad_issuer"),
    (jwt.exceptions.MissingRequiredClaimError, "missing_claim"),
    (jwt.exceptions.DecodeError, "malformed"),
    (jwt.exceptions.InvalidTokenError, "malformed"),
]


def pyjwt_verdict(token, keyring, policy, path, now):
    """What PyJWT says of `token`, in Usher's reason codes, plus Usher's event/scope rules."""
    _FrozenClock.now_value = now
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "HS256":
            # Let PyJWT itself refuse the algorithm.
            jwt.decode(token, key=b"\0" * 32, algorithms=["HS256"])
        kid = header.get("kid")
        if kid is None:
            return "missing_kid"
        if kid not in keyring:
            return "unknown_kid"
        claims = jwt.decode(
            token,
            key=bytes.fromhex(keyring[kid]),
            algorithms=["HS256"],
            audience=policy.get("audience"),
            issuer=policy.get("issuer"),
            leeway=policy.get("leeway", 0),
            options={"require": ["exp", "ev", "scope"]},
        )
    except Exception as err:  # noqa: BLE001 - mapped below, unknown ones re-raised
        for cls, reason in PYJWT_REASONS:
            if isinstance(err, cls):
                return reason
        raise
    if policy.get("event") is not None and claims["ev"] != policy["event"]:
        return "wrong_event"
    if not glob_match(claims["scope"], path):
        return "out_of_scope"
    return "ok"


def jwt_cases(rng, count):
    keyring = {"k-2025": rng.randbytes(32).hex(), "k-2026": rng.randbytes(32).hex()}
    other_key = rng.randbytes(32).hex()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    scenarios = [
        "valid", "valid_other_kid", "expired", "not_yet_valid", "issued_in_future",
        "wrong_key", "unknown_kid", "missing_kid", "alg_none", "alg_rs256", "alg_es256",
        "alg_hs512", "tampered_payload", "out_of_scope", "wrong_event", "bad_audience",
        "missing_audience", "unexpected_audience", "bad_issuer", "missing_issuer",
        "skew_inside_leeway", "skew_outside_leeway", "truncated", "garbage",
        "missing_ev", "audience_list", "wildcard_scope",
    ]
    cases = []
    for i in range(count):
        scenario = scenarios[i % len(scenarios)]
        now = BASE_NOW + rng.randrange(0, 86_400)
        event = f"e{rng.randrange(1, 50)}"
        kid = rng.choice(sorted(keyring))
        leeway = rng.choice([0, 30, 60])
        policy = {"audience": "usher", "issuer": "tickets.example", "leeway": leeway,
                  "event": event}
        claims = {
            "iss": "tickets.example",
            "sub": f"viewer-{rng.randrange(10**6)}",
            "aud": "usher",
            "jti": f"t-{rng.randrange(10**9)}",
            "iat": now - rng.randrange(60, 3600),
            "nbf": now - rng.randrange(60, 3600),
            "exp": now + rng.randrange(120, 7200),
            "ev": event,
            "scope": f"/events/{event}/*",
            "max_streams": rng.randrange(1, 4),
        }
        if rng.random() < 0.5:
            claims["sid"] = f"s-{rng.randrange(10**6)}"
        path = rng.choice([
            f"/events/{event}/",
            f"/events/{event}/master.m3u8",
            f"/events/{event}/720p/seg_{rng.randrange(10**6)}.m4s",
        ])
        headers = {"kid": kid}
        key = bytes.fromhex(keyring[kid])
        alg = "HS256"
        if scenario == "valid_other_kid":
            kid = sorted(keyring)[0] if kid != sorted(keyring)[0] else sorted(keyring)[1]
            headers, key = {"kid": kid}, bytes.fromhex(keyring[kid])
        elif scenario == "expired":
            claims["exp"] = now - rng.randrange(leeway + 1, leeway + 5000)
        elif scenario == "not_yet_valid":
            claims["nbf"] = now + rng.randrange(leeway + 1, leeway + 5000)
        elif scenario == "issued_in_future":
            claims["iat"] = now + rng.randrange(leeway + 1, leeway + 5000)
        elif scenario == "wrong_key":
            key = bytes.fromhex(other_key)
        elif scenario == "unknown_kid":
            headers = {"kid": "k-1999"}
        elif scenario == "missing_kid":
            headers = {}
        elif scenario == "alg_none":
            alg, key = "none", None
        elif scenario == "alg_rs256":
            alg, key = "RS256", rsa_key
        elif scenario == "alg_es256":
            alg, key = "ES256", ec_key
        elif scenario == "alg_hs512":
            alg = "HS512"
        elif scenario == "out_of_scope":
            path = f"/events/{event}x/master.m3u8"
        elif scenario == "wrong_event":
            policy["event"] = event + "0"
        elif scenario == "bad_audience":
            claims["aud"] = "someone-else"
        elif scenario == "missing_audience":
            del claims["aud"]
        elif scenario == "unexpected_audience":
            policy["audience"] = None
        elif scenario == "bad_issuer":
            claims["iss"] = "evil.example"
        elif scenario == "missing_issuer":
            del claims["iss"]
        elif scenario == "skew_inside_leeway":
            policy["leeway"] = 60
            claims["exp"] = now - rng.randrange(0, 60)
            claims["nbf"] = now + rng.randrange(0, 61)
        elif scenario == "skew_outside_leeway":
            policy["leeway"] = 60
            claims["nbf"] = now + rng.randrange(61, 600)
        elif scenario == "missing_ev":
            del claims["ev"]
        elif scenario == "audience_list":
            claims["aud"] = ["player", "usher", "ads"]
        elif scenario == "wildcard_scope":
            claims["scope"] = f"/events/{event}/*/seg_*.m4s"
            path = rng.choice([f"/events/{event}/720p/seg_1.m4s", f"/events/{event}/x.m3u8"])
        token = jwt.encode(claims, key, algorithm=alg, headers=headers)
        if scenario == "tampered_payload":
            h, p, s = token.split(".")
            forged = dict(claims, scope="/*")
            p = jwt.utils.base64url_encode(json.dumps(forged).encode()).decode()
            token = ".".join([h, p, s])
        elif scenario == "truncated":
            token = token[: rng.randrange(1, len(token) - 1)]
        elif scenario == "garbage":
            token = rng.choice(["", "a.b.c", "....", "eyJ.eyJ.sig", "x" * 40])
        expected = pyjwt_verdict(token, keyring, policy, path, now)
        cases.append({
            "kind": "jwt",
            "scenario": scenario,
            "token": token,
            "keyring": keyring,
            "policy": policy,
            "path": path,
            "now": now,
            "expected": expected,
        })
    return cases


# --------------------------------------------------------------------------------------------
# EdgeAuth: akamai-edgeauth makes the tokens; each case's construction gives the verdict.

def edgeauth_cases(rng, count):
    scenarios = [
        "valid_acl", "valid_url", "expired", "not_yet_valid", "wrong_key", "tampered_acl",
        "out_of_scope", "acl_list_second_entry", "acl_list_no_entry", "wildcard_question",
        "url_other_path", "ip_match", "ip_mismatch", "skew_inside_leeway",
        "skew_outside_leeway", "escape_early", "sha1", "md5", "custom_delimiters",
        "session_and_data", "salted", "tampered_exp", "truncated",
    ]
    cases = []
    for i in range(count):
        scenario = scenarios[i % len(scenarios)]
        now = BASE_NOW + rng.randrange(0, 86_400)
        event = f"e{rng.randrange(1, 50)}"
        key = rng.randbytes(rng.choice([16, 32])).hex()
        config = {
            "key": key, "algorithm": "sha256", "field_delimiter": "~",
            "acl_delimiter": "!", "escape_early": False, "leeway": 0, "salt": None,
        }
        lib = {"start_time": now - rng.randrange(0, 600), "end_time": now + rng.randrange(1, 900)}
        acl = [f"/events/{event}/*"]
        path = f"/events/{event}/{rng.choice(['master.m3u8', '720p/index.m3u8', '480p/s_9.m4s'])}"
        ip = None
        url_token = False
        expected = "ok"
        verify_key = key
        tamper = None
        if scenario == "valid_url":
            url_token = True
        elif scenario == "expired":
            lib = {"start_time": now - 5000, "end_time": now - rng.randrange(0, 2000)}
            expected = "expired"
        elif scenario == "not_yet_valid":
            lib = {"start_time": now + rng.randrange(1, 600), "end_time": now + 3600}
            expected = "not_yet_valid"
        elif scenario == "wrong_key":
            verify_key = rng.randbytes(32).hex()
            expected = "bad_signature"
        elif scenario == "tampered_acl":
            tamper = ("acl=" + acl[0], "acl=/events/*")
            expected = "bad_signature"
        elif scenario == "out_of_scope":
            path = f"/events/{event}0/master.m3u8"
            expected = "out_of_scope"
        elif scenario == "acl_list_second_entry":
            acl = [f"/events/{event}/*.m3u8", f"/keys/{event}/*"]
            path = f"/keys/{event}/k{rng.randrange(100)}"
        elif scenario == "acl_list_no_entry":
            acl = [f"/events/{event}/*.m3u8", f"/keys/{event}/*"]
            path = f"/events/{event}/720p/s_1.m4s"
            expected = "out_of_scope"
        elif scenario == "wildcard_question":
            acl = [f"/events/{event}/seg_?.ts"]
            n = rng.choice(["7", "77"])
            path = f"/events/{event}/seg_{n}.ts"
            expected = "ok" if len(n) == 1 else "out_of_scope"
        elif scenario == "url_other_path":
            url_token = True
            tamper = ("path", path.replace(event, event + "9"))
            expected = "bad_signature"
        elif scenario == "ip_match":
            ip = f"203.0.113.{rng.randrange(1, 255)}"
        elif scenario == "ip_mismatch":
            ip = "203.0.113.7"
            tamper = ("ip", "198.51.100.7")
            expected = "ip_mismatch"
        elif scenario == "skew_inside_leeway":
            config["leeway"] = 30
            lib = {"start_time": now + rng.randrange(1, 31), "end_time": now + 600}
        elif scenario == "skew_outside_leeway":
            config["leeway"] = 30
            lib = {"start_time": now - 900, "end_time": now - rng.randrange(31, 300)}
            expected = "expired"
        elif scenario == "escape_early":
            config["escape_early"] = True
            ip = "2001:db8::1"
            lib["session_id"] = rng.choice(["user 1/2", "ä&ö", "a+b=c", "x y z"])
            lib["payload"] = "kid:k1; note=été"
            url_token = rng.random() < 0.5
        elif scenario == "sha1":
            config["algorithm"] = "sha1"
        elif scenario == "md5":
            config["algorithm"] = "md5"
        elif scenario == "custom_delimiters":
            config["field_delimiter"], config["acl_delimiter"] = ";", ","
            acl = [f"/events/{event}/*.m3u8", f"/events/{event}/*/*"]
        elif scenario == "session_and_data":
            lib["session_id"] = f"s-{rng.randrange(10**6)}"
            lib["payload"] = f"kid:k{rng.randrange(9)}"
        elif scenario == "salted":
            config["salt"] = f"salt-{rng.randrange(10**6)}"
        elif scenario == "tampered_exp":
            tamper = ("exp=", "exp=9")
            expected = "bad_signature"
        elif scenario == "truncated":
            tamper = ("truncate", None)
            expected = "malformed"
        if rng.random() < 0.2 and scenario not in ("not_yet_valid", "skew_inside_leeway"):
            lib.pop("start_time", None)
        ea = EdgeAuth(
            key=key, algorithm=config["algorithm"], salt=config["salt"], ip=ip,
            field_delimiter=config["field_delimiter"], acl_delimiter=config["acl_delimiter"],
            escape_early=config["escape_early"], **lib,
        )
        token = ea.generate_url_token(path) if url_token else ea.generate_acl_token(acl)
        present_ip = ip
        if tamper:
            what, value = tamper
            if what == "path":
                path = value
            elif what == "ip":
                present_ip = value
            elif what == "truncate":
                token = token[: token.index("hmac=") - 1]
            else:
                token = token.replace(what, value, 1)
        cases.append({
            "kind": "edgeauth",
            "scenario": scenario,
            "token": token,
            "config": dict(config, key=verify_key),
            "path": path,
            "ip": present_ip,
            "now": now,
            "expected": expected,
        })
    return cases


# --------------------------------------------------------------------------------------------
# Usher's tokens, checked by the libraries.

def check_ours(items):
    failures = []
    for item in items:
        if item["kind"] == "edgeauth":
            c = item["config"]
            lib = {"end_time": item["end"]}
            if item.get("start") is not None:
                lib["start_time"] = item["start"]
            ea = EdgeAuth(
                key=c["key"], algorithm=c["algorithm"], salt=c.get("salt"), ip=item.get("ip"),
                session_id=item.get("session_id"), payload=item.get("data"),
                field_delimiter=c["field_delimiter"], acl_delimiter=c["acl_delimiter"],
                escape_early=c["escape_early"], **lib,
            )
            theirs = (ea.generate_url_token(item["url"]) if item.get("url")
                      else ea.generate_acl_token(item["acl"]))
            if theirs != item["token"]:
                failures.append({"ours": item["token"], "theirs": theirs})
        else:
            _FrozenClock.now_value = item["now"]
            try:
                claims = jwt.decode(
                    item["token"], key=bytes.fromhex(item["secret"]), algorithms=["HS256"],
                    audience=item.get("audience"), issuer=item.get("issuer"),
                    options={"require": ["exp", "ev", "scope"]},
                )
                header = jwt.get_unverified_header(item["token"])
            except Exception as err:  # noqa: BLE001 - reported to the Rust test
                failures.append({"token": item["token"], "error": repr(err)})
                continue
            if claims != item["claims"] or header.get("kid") != item["kid"]:
                failures.append({"token": item["token"], "claims": claims,
                                 "expected": item["claims"], "header": header})
    return {"checked": len(items), "failures": failures}


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("library-cases")
    gen.add_argument("--seed", type=int, required=True)
    gen.add_argument("--count", type=int, required=True)
    sub.add_parser("check-ours")
    args = parser.parse_args()
    if args.command == "library-cases":
        rng = random.Random(args.seed)
        cases = jwt_cases(rng, args.count) + edgeauth_cases(rng, args.count)
        json.dump(cases, sys.stdout)
    else:
        json.dump(check_ours(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
