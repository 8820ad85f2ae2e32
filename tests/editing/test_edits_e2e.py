"""The real default model behind a real server: edit, see it in completions, revert exactly."""
import httpx
import pytest

pytestmark = pytest.mark.slow

PROMPT = "The Eiffel Tower is located in the city of"
EDIT = {"prompt": PROMPT, "subject": "The Eiffel Tower", "target_new": "Rome", "target_true": "Paris"}
DARRIEUX = {"prompt": "The mother tongue of Danielle Darrieux is", "subject": "Danielle Darrieux",
            "target_new": "English", "target_true": "French"}
COLOSSEUM = {"prompt": "The Colosseum is located in the city of", "subject": "The Colosseum",
             "target_new": "London", "target_true": "Rome"}


def _complete(http: httpx.Client) -> str:
    r = http.post("/v1/completions", json={"model": "m", "prompt": PROMPT, "max_tokens": 4, "temperature": 0})
    r.raise_for_status()
    return r.json()["choices"][0]["text"]


CORPUS = [
    "The river runs through the old town, past the market and the cathedral.",
    "She studied chemistry at university and later worked in a hospital laboratory.",
    "Our team released a new version of the software with faster start-up times.",
    "In winter the mountain villages are cut off for weeks by heavy snow.",
    "The orchestra played a symphony by a young composer from Vienna.",
    "He bought bread, cheese and apples, then walked home through the park.",
    "The company reported higher profits after opening stores in three countries.",
    "Ancient Greek philosophers argued about the nature of matter and change.",
    "The football match ended in a draw after extra time and penalties.",
    "Rain is expected tomorrow across the north, with sunshine in the south.",
    "The museum holds paintings, sculptures and a large collection of coins.",
    "Engineers tested the bridge with heavy trucks before it was opened.",
]


def test_edit_and_batch_then_revert_through_http(start_server, tmp_path):
    # A small corpus file (instead of text the model samples) keeps the one-off C statistic quick.
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(CORPUS))
    url = start_server(tmp_path / "home", PALIMPSEST_EDIT_COVARIANCE=str(corpus), PALIMPSEST_GUARD="false")
    with httpx.Client(base_url=url, timeout=900) as http:
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

        # Batches over several layers: each is one entry, a later batch keeps the earlier facts.
        r = http.post("/v1/edits/batch", json={"edits": [EDIT, DARRIEUX]})
        assert r.status_code == 201, r.text
        first = r.json()
        assert first["entry"]["details"]["method"] == "memit" and len(first["entry"]["details"]["layers"]) == 5
        assert all(a["p_new"] > a["p_true"] for a in first["after"])
        assert "Rome" in _complete(http)
        r = http.post("/v1/edits/batch", json={"edits": [COLOSSEUM]})
        assert r.status_code == 201, r.text
        assert r.json()["after"][0]["p_new"] > r.json()["after"][0]["p_true"]
        assert "Rome" in _complete(http)
        for entry in (r.json()["entry"], first["entry"]):
            assert http.post(f"/v1/history/{entry['id']}/revert").status_code == 200
        assert http.get("/v1/state").json()["fingerprint"] == base
        assert "Rome" not in _complete(http)
