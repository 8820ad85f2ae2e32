"""serve, prepare, chat, state, history, revert, export, cancel."""

from __future__ import annotations

import argparse
import json
import logging

from serving.client import Client


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from serving.http.app import create_app
    from serving.core.settings import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = Settings(**overrides)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from serving.core.model_loader import prepare_model
    from serving.core.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings()
    print(prepare_model(settings))
    if settings.edit_covariance != "identity":
        from serving.core.model_loader import load_model
        from serving.services.edits import default_layers, key_statistics

        model, tokenizer, _ = load_model(settings)
        layers = default_layers(model, settings)
        key_statistics(model, tokenizer, layers, settings, settings.model,
                       progress=lambda f, msg: print(f"key statistics {100 * f:3.0f}%: {msg}", flush=True))
        print(f"key statistics ready for layers {layers} under {settings.cache_dir / 'edits'}")
    return 0


def _chat(args: argparse.Namespace) -> int:
    client = Client()
    messages: list[dict[str, str]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    print(f"chatting with {client.base_url} (empty line or Ctrl-D to quit)")
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print()
            return 0
        if not line:
            return 0
        messages.append({"role": "user", "content": line})
        body = {"messages": messages, "temperature": args.temperature, "max_tokens": args.max_tokens}
        if args.no_memory:
            body["memory"] = False
        print("model> ", end="", flush=True)
        answer, citations = [], []
        for chunk in client.stream("/v1/chat/completions", body):
            citations = chunk.get("palimpsest", {}).get("citations", citations)
            for choice in chunk.get("choices", []):
                text = choice.get("delta", {}).get("content") or ""
                answer.append(text)
                print(text, end="", flush=True)
        print()
        for c in citations:
            print(f"  [{c.get('type', 'passage')} {c['id']} score {c['score']:.3f}] {c['text'][:100]}")
        messages.append({"role": "assistant", "content": "".join(answer)})


def _state(args: argparse.Namespace) -> int:
    print(json.dumps(Client().get("/v1/state"), indent=2))
    return 0


def _history(args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("kind", args.kind), ("status", args.status), ("limit", args.limit)) if v}
    entries = Client().get("/v1/history", params=params)["data"]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for e in entries:
        print(f"{e['id']:<22} {e['kind']:<7} {e['status']:<9} {e['created_at']}  {e['summary']}")
    if not entries:
        print("(no entries)")
    return 0


def _revert(args: argparse.Namespace) -> int:
    entry = Client().post(f"/v1/history/{args.id}/revert")
    print(f"reverted {entry['id']}: {entry['summary']}")
    return 0


def _export(args: argparse.Namespace) -> int:
    summary = Client().post("/v1/export", {"name": args.name})
    print(json.dumps(summary, indent=2))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    job = Client().delete(f"/v1/jobs/{args.id}")
    print(f"{job['id']}: {job['status']} ({job['message']})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP server on the configured model")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=_serve)

    p = sub.add_parser("prepare", help="convert the configured model once and print where it is cached; "
                       "compute the edit key statistics of the default layers")
    p.set_defaults(func=_prepare)

    p = sub.add_parser("chat", help="chat with the running server in the terminal")
    p.add_argument("--system", help="a system prompt")
    p.add_argument("--temperature", type=float, default=0.3)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--no-memory", action="store_true", help="do not ground answers in the graph memory")
    p.set_defaults(func=_chat)

    p = sub.add_parser("state", help="fingerprint of the weights and the applied entries")
    p.set_defaults(func=_state)

    p = sub.add_parser("history", help="list the history, newest first")
    p.add_argument("--kind", choices=["memory", "edit", "skill"])
    p.add_argument("--status", choices=["pending", "applied", "reverted"])
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_history)

    p = sub.add_parser("export", help="write merged weights and LoRA adapters of the applied changes "
                                      "to NAME under the server's export directory (PALIMPSEST_EXPORT_DIR)")
    p.add_argument("name", help="a new (or empty) sub-folder of the export directory")
    p.set_defaults(func=_export)

    p = sub.add_parser("cancel", help="cancel a background job (queued: at once; running: at its next step)")
    p.add_argument("id")
    p.set_defaults(func=_cancel)

    p = sub.add_parser("revert", help="revert one history entry (any, not only the last)")
    p.add_argument("id")
    p.set_defaults(func=_revert)
