"""What the tests share; the conftest fixtures call these and tests import them from here.

- `models`: `tiny_llama(**overrides)`, `tiny_gpt2`, `tiny_tokenizer`, `byte_tokenizer`
- `engine`: `engine_on` a tiny model, `synthetic_delta`, `snapshot`, `assert_bit_identical`
- `server`: `serve_in_subprocess` (a real `palimpsest serve`), `default_model_dir`, `TEST_CACHE`
- `jobs`: `wait_for_job`
- `skills`, `memory_world`: small invented data (a reverse-the-words skill, a fictional world)
"""
