"""`palimpsest ingest` file reading: text / markdown as one document, JSONL as one per line."""

import pytest

from serving.cli import build_parser
from serving.cli.memory import read_documents
from serving.client import ServerError


def test_read_documents(tmp_path):
    md = tmp_path / "notes.md"
    md.write_text("# Quillby\n\nA fishing town.\n")
    assert read_documents(md) == [{"text": "# Quillby\n\nA fishing town.\n", "metadata": {"source": str(md)}}]
    jl = tmp_path / "docs.jsonl"
    jl.write_text('{"text": "Doravik is a city.", "id": "d1"}\n\n"Plain string line."\n')
    docs = read_documents(jl)
    assert [d["text"] for d in docs] == ["Doravik is a city.", "Plain string line."]
    assert docs[0]["id"] == "d1" and docs[1]["metadata"] == {"source": "docs.jsonl:3"}


def test_bad_jsonl_names_the_line(tmp_path):
    jl = tmp_path / "bad.jsonl"
    jl.write_text('{"text": "ok"}\n{"text": 3}\n')
    with pytest.raises(ServerError, match="bad.jsonl:2"):
        read_documents(jl)


def test_ingest_command_is_registered():
    args = build_parser().parse_args(["ingest", "a.txt", "b.jsonl", "--batch", "4"])
    assert args.files == ["a.txt", "b.jsonl"] and args.batch == 4
