"""The real default model behind a real server: edit, see it in completions, revert exactly."""
import httpx
import pytest

PROMPT = "The Eiffel Tower is located in the city of"
EDIT = {"prompt": PROMPT, "subject": "The Eiffel Tower", "target_new": "Rome", "target_true": "Paris"}


def _complete(http: httpx.Client) -> str:
    r = http.post("/v1/completions", json={"model": "m", "prompt": PROMPT, "max_tokens": 4, "temperature": 0})
    r.raise_for_status()
    return r.json()["choices"][0]["text"]


@pytest.mark.slow
def test_edit_then_revert_through_http(start_server, tmp_path):
    # A small self-sampled corpus keeps the one-off covariance statistic quick in tests.
    url = start_server(
        tmp_path / "home", PALIMPSEST_EDIT_COV_TEXTS="32", PALIMPSEST_EDIT_COV_LENGTH="64", PALIMPSEST_GUARD="false"
    )
    with httpx.Client(base_url=url, timeout=600) as http:
        base = http.get("/v1/state").json()["fingerprint"]
        assert "Rome" not in _complete(http)

        bad = [
            {**EDIT, "subject": "Big Ben"},
            {**EDIT, "target_new": "   "},
            {**EDIT, "layer": 99},
        ]
        for body in bad:
            r = http.post("/v1/edits", json=body)
            assert r.status_code in (400, 422), r.text
            assert r.json()["error"]["message"]
        assert http.get("/v1/state").json()["fingerprint"] == base

        r = http.post("/v1/edits", json=EDIT)
        assert r.status_code == 201, r.text
        out = r.json()
        assert out["entry"]["kind"] == "edit" and out["entry"]["status"] == "applied"
        assert out["after"]["p_new"] > out["after"]["p_true"]
        assert out["after"]["p_new"] > 10 * out["before"]["p_new"]
        assert out["entry"]["details"]["layers"] and out["entry"]["details"]["before"] == out["before"]
        assert "Rome" in _complete(http)
        assert http.get("/v1/state").json()["fingerprint"] != base

        r = http.post(f"/v1/history/{out['entry']['id']}/revert")
        assert r.status_code == 200 and r.json()["status"] == "reverted"
        assert "Rome" not in _complete(http)
        assert http.get("/v1/state").json()["fingerprint"] == base
