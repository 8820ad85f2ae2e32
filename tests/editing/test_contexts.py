"""The sampled context prefixes (`editing.contexts`) stay the seed's when two threads sample at once."""

import copy
import threading

from editing.config import ContextConfig
from editing.contexts import context_groups
from tests.helpers.models import tiny_llama, tiny_tokenizer

CONFIG = ContextConfig(lengths=(4, 6), per_length=3)


def test_two_samplers_at_once_each_get_the_seeds_prefixes():
    """The server's start-up and an early first edit sample at once. Interleaved here: the second
    sampler seeds torch's global generator and waits inside its generation (up to 1 s) until the
    first has drawn; sharing that generator, its own draws would then continue the first's."""
    tok = tiny_tokenizer()
    first = tiny_llama(initializer_range=1.0)
    second = copy.deepcopy(first)
    alone = context_groups(copy.deepcopy(first), tok, CONFIG)
    inside, drawn = threading.Event(), threading.Event()
    generate_first, generate_second = first.generate, second.generate
    sampled = {}

    def first_generate(*args, **kwargs):
        if not inside.is_set():
            thread = threading.Thread(target=lambda: sampled.setdefault("second", context_groups(second, tok, CONFIG)))
            thread.start()
            sampled["thread"] = thread
            inside.wait(timeout=1.0)
        out = generate_first(*args, **kwargs)
        drawn.set()
        return out

    def second_generate(*args, **kwargs):
        inside.set()
        drawn.wait(timeout=1.0)
        return generate_second(*args, **kwargs)

    first.generate, second.generate = first_generate, second_generate
    assert context_groups(first, tok, CONFIG) == alone
    sampled["thread"].join(timeout=30)
    assert sampled["second"] == alone
