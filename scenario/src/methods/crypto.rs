//! Digests and tokens: `$hash`, `$hmac`, `$jwtsign`, `$jwtclaim`
//! (`HashMethod.cs`, `HmacMethod.cs`, `JwtSignMethod.cs`,
//! `JwtClaimMethod.cs`), with ring (MD5 with the `md-5` crate, which ring
//! lacks). Every failure gives "" and stores it.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::{digest, hmac, rand, signature};
use serde_json::Value;

use super::store::value_token;
use super::{Cx, MethodId, read};

/// Runs `method` and returns its text.
pub(super) fn run(method: MethodId, cx: &mut Cx<'_, '_>) -> String {
    let result = match method {
        MethodId::Hash => hash(cx),
        MethodId::Hmac => hmac_text(cx),
        MethodId::JwtSign => jwt_sign(cx),
        _ => return jwt_claim(cx),
    };
    finish(cx, result)
}

/// Stores the result as a string ("" on failure) and returns it.
fn finish(cx: &mut Cx<'_, '_>, result: Result<String, String>) -> String {
    let text = result.unwrap_or_else(|e| {
        log::debug!("{e}");
        String::new()
    });
    cx.store_text(&text);
    text
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `$hash(value, algorithm=SHA256)`: lower-case hex of MD5, SHA1, SHA256,
/// SHA384 or SHA512 of the UTF-8 value.
fn hash(cx: &mut Cx<'_, '_>) -> Result<String, String> {
    let value = cx.text_or("value", "");
    let algorithm = cx.text_or("algorithm", "SHA256").to_uppercase();
    let algo = match algorithm.as_str() {
        "MD5" => {
            use md5::Digest;
            return Ok(hex(&md5::Md5::digest(value.as_bytes())));
        }
        "SHA1" => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        "SHA256" => &digest::SHA256,
        "SHA384" => &digest::SHA384,
        "SHA512" => &digest::SHA512,
        other => return Err(format!("$hash(): unsupported algorithm {other:?}")),
    };
    Ok(hex(digest::digest(algo, value.as_bytes()).as_ref()))
}

/// `$hmac(value, key, algorithm=SHA256, encoding=hex|base64)`.
fn hmac_text(cx: &mut Cx<'_, '_>) -> Result<String, String> {
    let value = cx.text_or("value", "");
    let key = cx.text_or("key", "");
    let algorithm = cx.text_or("algorithm", "SHA256").to_uppercase();
    let encoding = cx.text_or("encoding", "hex").to_lowercase();
    if key.is_empty() {
        return Err("$hmac(): a 'key' is required".into());
    }
    let algo = match algorithm.as_str() {
        "SHA1" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "SHA256" => hmac::HMAC_SHA256,
        "SHA384" => hmac::HMAC_SHA384,
        "SHA512" => hmac::HMAC_SHA512,
        other => return Err(format!("$hmac(): unsupported algorithm {other:?}")),
    };
    let tag = hmac::sign(&hmac::Key::new(algo, key.as_bytes()), value.as_bytes());
    Ok(if encoding == "base64" {
        STANDARD.encode(tag.as_ref())
    } else {
        hex(tag.as_ref())
    })
}

/// `$jwtsign(claims, key | source/path/name, algorithm=HS256, expiresIn)`:
/// `iat` (and `exp` when `expiresIn` > 0) added unless present.
fn jwt_sign(cx: &mut Cx<'_, '_>) -> Result<String, String> {
    let claims = cx.text_or("claims", "");
    let key = cx.text_or("key", "");
    let from_source = ["source", "path", "name"]
        .iter()
        .any(|k| cx.text(k).is_some_and(|v| !v.trim().is_empty()));
    let algorithm = cx.text_or("algorithm", "HS256").to_uppercase();
    let expires_in = cx.number("expiresIn", 0);
    if claims.trim().is_empty() {
        return Err("$jwtsign(): 'claims' (a JSON object) is required".into());
    }
    let Ok(Value::Object(mut claims)) = serde_json::from_str::<Value>(&claims) else {
        return Err("$jwtsign(): 'claims' is not a JSON object".into());
    };
    if !matches!(
        &algorithm[..],
        "HS256" | "HS384" | "HS512" | "RS256" | "RS384" | "RS512" | "ES256" | "ES384"
    ) {
        return Err(format!(
            "$jwtsign(): algorithm {algorithm:?} is not supported"
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    claims.entry("iat").or_insert(Value::from(now));
    if expires_in > 0 {
        claims.entry("exp").or_insert(Value::from(now + expires_in));
    }
    let header = serde_json::json!({"alg": algorithm, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
    );
    let material = if from_source {
        read::read_source(cx)
    } else {
        key
    };
    if material.trim().is_empty() {
        return Err(format!("$jwtsign(): {algorithm} needs a key"));
    }
    let sig = sign(&algorithm, &material, input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// The JWS signature of `input` with `key` (a secret, or a PEM private key).
fn sign(algorithm: &str, key: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    let rng = rand::SystemRandom::new();
    if let Some(bits) = algorithm.strip_prefix("HS") {
        let algo = match bits {
            "256" => hmac::HMAC_SHA256,
            "384" => hmac::HMAC_SHA384,
            _ => hmac::HMAC_SHA512,
        };
        return Ok(hmac::sign(&hmac::Key::new(algo, key.as_bytes()), input)
            .as_ref()
            .to_vec());
    }
    let (label, der) = pem(key).ok_or("$jwtsign(): the key is not a PEM private key")?;
    if algorithm.starts_with("RS") {
        let pair = match label.as_str() {
            "RSA PRIVATE KEY" => signature::RsaKeyPair::from_der(&der),
            _ => signature::RsaKeyPair::from_pkcs8(&der),
        }
        .map_err(|e| format!("$jwtsign(): RSA key: {e}"))?;
        let padding: &'static dyn signature::RsaEncoding = match algorithm {
            "RS256" => &signature::RSA_PKCS1_SHA256,
            "RS384" => &signature::RSA_PKCS1_SHA384,
            _ => &signature::RSA_PKCS1_SHA512,
        };
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(padding, &rng, input, &mut sig)
            .map_err(|_| "$jwtsign(): RSA signing failed".to_string())?;
        return Ok(sig);
    }
    let algo = match algorithm {
        "ES256" => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        _ => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    };
    let pair = signature::EcdsaKeyPair::from_pkcs8(algo, &der, &rng)
        .map_err(|e| format!("$jwtsign(): EC key (PKCS#8 only): {e}"))?;
    let sig = pair
        .sign(&rng, input)
        .map_err(|_| "$jwtsign(): ECDSA signing failed")?;
    Ok(sig.as_ref().to_vec())
}

/// The label and DER of the first PEM block in `text`.
fn pem(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_string();
    let body = &rest[label_end + 5..];
    let end = body.find("-----END ")?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok().map(|der| (label, der))
}

/// `$jwtclaim(token, claim, as=string)`: the claim of the token's payload
/// (not verified); stored typed by `as`.
fn jwt_claim(cx: &mut Cx<'_, '_>) -> String {
    let token = cx.text_or("token", "");
    let claim = cx.text_or("claim", "");
    let as_type = cx.text_or("as", "string");
    let result = claim_text(&token, &claim).unwrap_or_else(|e| {
        log::debug!("$jwtclaim(): {e}");
        String::new()
    });
    cx.store(&value_token(&result, &as_type), &as_type);
    result
}

fn claim_text(token: &str, claim: &str) -> Result<String, String> {
    if token.is_empty() || claim.is_empty() {
        return Ok(String::new());
    }
    let payload = token.split('.').nth(1).ok_or("invalid token format")?;
    // LPS decodes with the standard alphabet; the URL-safe one JWTs use is
    // read too, so that payloads with '-' or '_' decode.
    let standard = payload
        .trim_end_matches('=')
        .replace('-', "+")
        .replace('_', "/");
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(standard)
        .map_err(|e| format!("payload: {e}"))?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|e| format!("payload: {e}"))?;
    let Value::Object(map) = json else {
        return Err("the payload is not a JSON object".into());
    };
    Ok(match map.get(claim) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "True".into(),
        Some(Value::Bool(false)) => "False".into(),
        Some(other) => other.to_string(),
    })
}
