"""The ``openai:`` adapter against a real HTTP server on 127.0.0.1 and the real openai SDK.

Each test starts :class:`FakeOpenAIServer` (tests/fake_openai_server.py) with a scripted responder and checks
what arrived on the wire: the exact messages and pixels, retries after 429/500/timeouts, one clear error for
401/404/400 and for a server that is down, concurrency (requests in flight, wall time), A3 log-probs, usage.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fake_openai_server import FakeOpenAIServer, Reply, echo, fail_first, user_text
from qbench.errors import ModelError, RunError, UsageError
from qbench.models.base import load_model, model_info
from qbench.models.openai_compat import OpenAICompatModel, create, match_word
from qbench.types import ImageSlot, Request, Text

FAST = {"retry_base": "0.01", "retry_cap": "0.05"}


def make_model(server: FakeOpenAIServer, **options: Any) -> OpenAICompatModel:
    opts = {"api_base": server.url, "api_key": "sk-test", **FAST, **{k: str(v) for k, v in options.items()}}
    return create("test-model", opts)


def noise_image(w: int, h: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4}.get(mode)
    shape = (h, w, channels) if channels else (h, w)
    return Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode=mode)


def text_requests(n: int, **kwargs: Any) -> list[Request]:
    return [Request(content=(Text(f"question {i}"),), **kwargs) for i in range(n)]


def decode_data_url(url: str) -> tuple[str, Image.Image]:
    header, _, data = url.partition(",")
    assert header.endswith(";base64")
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return header[len("data:") : -len(";base64")], image


# -- what is sent ------------------------------------------------------------------------------------------------


def test_messages_are_exact_and_png_pixels_survive() -> None:
    first, second = noise_image(40, 30, 1), noise_image(17, 23, 2, "RGBA")
    request = Request(
        content=(
            Text("The first image:"),
            ImageSlot(0),
            Text("The second image:"),
            ImageSlot(1),
            Text("Which?"),
        ),
        images=(first, second),
        image_keys=("k1", "k2"),
        system="You are careful.",
        max_new_tokens=7,
        greedy=True,
    )
    with FakeOpenAIServer(lambda body: "B") as server:
        model = make_model(server)
        assert model.generate([request]) == ["B"]
        model.close()
    (body,) = server.bodies
    assert body["model"] == "test-model"
    assert body["temperature"] == 0
    assert body["max_tokens"] == 7
    assert "logprobs" not in body
    system, user = body["messages"]
    assert system == {"role": "system", "content": "You are careful."}
    assert user["role"] == "user"
    kinds = [p["type"] for p in user["content"]]
    assert kinds == ["text", "image_url", "text", "image_url", "text"]
    assert [p["text"] for p in user["content"] if p["type"] == "text"] == [
        "The first image:",
        "The second image:",
        "Which?",
    ]
    for part, original in zip([p for p in user["content"] if p["type"] == "image_url"], (first, second)):
        assert set(part["image_url"]) == {"url"}  # no detail unless asked for
        mime, decoded = decode_data_url(part["image_url"]["url"])
        assert mime == "image/png"
        assert decoded.mode == original.mode
        assert np.array_equal(np.asarray(decoded), np.asarray(original))  # lossless, pixel for pixel
    assert server.headers[0]["authorization"] == "Bearer sk-test"


def test_sampled_requests_omit_temperature_and_text_only_is_a_string() -> None:
    with FakeOpenAIServer() as server:
        model = make_model(server)
        out = model.generate(text_requests(1, greedy=False, max_new_tokens=256))
        model.close()
    assert out == ["echo: question 0"]
    (body,) = server.bodies
    assert "temperature" not in body
    assert body["messages"] == [{"role": "user", "content": "question 0"}]


def test_jpeg_and_resize_are_applied_and_recorded() -> None:
    image = noise_image(200, 100, 3)
    request = Request(content=(ImageSlot(0), Text("Rate.")), images=(image,), image_keys=("k",))
    with FakeOpenAIServer(lambda body: "ok") as server:
        model = make_model(server, image_format="jpg", jpeg_quality=90, max_side=64, image_detail="high")
        model.generate([request])
        model.close()
    part = server.bodies[0]["messages"][0]["content"][0]
    assert part["image_url"]["detail"] == "high"
    mime, decoded = decode_data_url(part["image_url"]["url"])
    assert mime == "image/jpeg" and decoded.format == "JPEG"
    assert decoded.size == (64, 32)
    info = model.info()
    assert info["images"]["format"] == "jpeg" and info["images"]["quality"] == 90
    assert "64" in info["images"]["resize"]
    assert model.usage()["resized_images"] == 1
    # a different encoding is a different model identity (run fingerprint), the default is lossless PNG
    with FakeOpenAIServer() as server:
        assert make_model(server).info()["images"] == {"format": "png", "lossless": True}


# -- retries -----------------------------------------------------------------------------------------------------


def test_429_retry_after_is_honoured_and_counted() -> None:
    responder = fail_first(1, Reply.error(429, "slow down", retry_after=1))
    with FakeOpenAIServer(responder) as server:
        model = make_model(server, retry_base=0.001, retry_cap=0.001)  # backoff alone would retry at once
        out = model.generate(text_requests(4))
        model.close()
    assert out == [f"echo: question {i}" for i in range(4)]
    assert model.usage()["retries"] == 4
    assert server.answered() == {f"question {i}": 1 for i in range(4)}
    for i in range(4):
        first, second = server.attempts(f"question {i}")
        assert (first.status, second.status) == (429, 200)
        assert second.time - first.time >= 0.95  # waited for Retry-After: 1


def test_500s_are_retried_with_backoff() -> None:
    with FakeOpenAIServer(fail_first(2, Reply.error(500))) as server:
        model = make_model(server)
        out = model.generate(text_requests(5))
        model.close()
    assert out == [f"echo: question {i}" for i in range(5)]
    assert server.count == 15
    assert server.answered() == {f"question {i}": 1 for i in range(5)}
    usage = model.usage()
    assert (usage["retries"], usage["requests"], usage["answered"], usage["failed"]) == (10, 15, 5, 0)


def test_slow_reply_past_the_timeout_is_retried() -> None:
    with FakeOpenAIServer(fail_first(1, Reply(text="late", delay=3.0))) as server:
        model = make_model(server, timeout=0.4)
        started = time.monotonic()
        out = model.generate(text_requests(2))
        elapsed = time.monotonic() - started
        model.close()
    assert out == ["echo: question 0", "echo: question 1"]
    assert elapsed < 2.0  # did not wait for the slow reply
    assert model.usage()["retries"] == 2
    assert all(len(server.attempts(f"question {i}")) == 2 for i in range(2))


def test_a_request_that_keeps_failing_is_an_exception_in_its_slot() -> None:
    def responder(body: dict[str, Any]) -> str | Reply:
        return Reply.error(503, "overloaded") if user_text(body) == "question 1" else echo(body)

    with FakeOpenAIServer(responder) as server:
        model = make_model(server, max_retries=2)
        out = model.generate(text_requests(3))
        model.close()
    assert out[0] == "echo: question 0" and out[2] == "echo: question 2"
    assert isinstance(out[1], RunError)
    assert "gave up after 3 attempts" in str(out[1]) and "503" in str(out[1]) and "overloaded" in str(out[1])
    assert len(server.attempts("question 1")) == 3
    assert model.usage()["failed"] == 1


# -- errors that stop the run ------------------------------------------------------------------------------------


def test_401_raises_one_clear_error_without_retries() -> None:
    with FakeOpenAIServer(api_key="sk-right") as server:
        model = create("gpt-x", {"api_base": server.url, "api_key": "sk-wrong", **FAST})
        with pytest.raises(ModelError) as caught:
            model.generate(text_requests(40))
        model.close()
    message = str(caught.value)
    assert "openai:gpt-x" in message and f"127.0.0.1:{server.port}" in message and "401" in message
    assert "Incorrect API key" in message and "OPENAI_API_KEY" in message
    assert "sk-wrong" not in message
    assert server.count <= 16  # one wave at most (concurrency 16): queued requests were dropped
    assert all(n == 1 for n in Counter(a.key for a in server.log).values())  # nothing retried
    assert model.usage()["retries"] == 0


@pytest.mark.parametrize(
    ("status", "words"), [(404, "model name"), (400, "scripted error 400"), (403, "API key")]
)
def test_client_errors_are_not_retried(status: int, words: str) -> None:
    with FakeOpenAIServer(lambda body: Reply.error(status)) as server:
        model = make_model(server)
        with pytest.raises(ModelError, match=words):
            model.generate(text_requests(1))
        model.close()
    assert server.count == 1


def test_server_down_is_one_clear_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = create("m", {"api_base": f"http://127.0.0.1:{port}/v1"})
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        model.generate(text_requests(20))
    assert time.monotonic() - started < 2.0
    assert f"http://127.0.0.1:{port}/v1" in str(caught.value) and "cannot connect" in str(caught.value)
    model.close()


# -- concurrency -------------------------------------------------------------------------------------------------


def test_many_requests_in_flight_and_each_answered_once() -> None:
    n, concurrency, latency = 32, 16, 0.2
    with FakeOpenAIServer(latency=latency) as server:
        model = make_model(server, concurrency=concurrency)
        started = time.monotonic()
        out = model.generate(text_requests(n))
        elapsed = time.monotonic() - started
        model.close()
    assert out == [f"echo: question {i}" for i in range(n)]  # in order
    assert server.answered() == {f"question {i}": 1 for i in range(n)}
    assert server.count == n
    assert server.max_in_flight >= 8
    ideal = n * latency / concurrency  # 0.4 s
    assert ideal * 0.9 <= elapsed < ideal * 2.5, elapsed  # serial would take 16x as long


def test_concurrency_option_and_factory_through_the_registry() -> None:
    with FakeOpenAIServer(latency=0.05) as server:
        model = load_model("openai:vendor/model-7b", {"api_base": server.url, "concurrency": "2"})
        assert model.name == "openai:vendor/model-7b"
        model.generate(text_requests(8))
        model.close()
    assert server.max_in_flight <= 2
    assert server.bodies[0]["model"] == "vendor/model-7b"
    assert model.batch_size >= 64


# -- A3: log-probs -----------------------------------------------------------------------------------------------


def a3_request(words: tuple[str, ...] = ("good", "poor")) -> Request:
    return Request(
        content=(ImageSlot(0), Text("Rate the quality of the image.")),
        images=(noise_image(8, 8),),
        image_keys=("k",),
        assistant_prefix="The quality of the image is",
        words=words,
    )


def test_score_tokens_sends_a_continuation_and_reads_top_logprobs() -> None:
    top = {" good": -0.25, " poor": -1.75, " excellent": -2.5, "good": -6.0}
    with FakeOpenAIServer(lambda body: Reply(text=" good", top_logprobs=top)) as server:
        model = make_model(server)
        (result,) = model.score_tokens([a3_request()])
        model.close()
    assert result == {"good": -0.25, "poor": -1.75}  # the space-prefixed token wins over bare "good"
    body = server.bodies[0]
    assert (body["max_tokens"], body["temperature"], body["logprobs"], body["top_logprobs"]) == (
        1,
        0,
        True,
        20,
    )
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    user, assistant = body["messages"]
    assert assistant == {"role": "assistant", "content": "The quality of the image is"}
    assert [p["type"] for p in user["content"]] == ["image_url", "text"]
    assert model.usage()["missing_words"] == 0


def test_a_missing_word_is_a_per_sample_error_and_counted() -> None:
    from qbench.tasks.assessment import AssessmentTask
    from qbench.types import Sample

    top = {" good": -0.1, " fine": -2.5}
    with FakeOpenAIServer(lambda body: Reply(text=" good", top_logprobs=top)) as server:
        model = make_model(server)
        results = model.score_tokens([a3_request(), a3_request()])
        model.close()
    assert results[0]["good"] == -0.1
    with pytest.raises(KeyError, match="'poor' is not among the 20 most likely"):
        results[0]["poor"]
    task = AssessmentTask({})
    with pytest.raises(KeyError, match="poor"):  # the runner records this as "unusable model result: ..."
        task.output(Sample(id="x", images=(), mos=1.0), results[0])
    usage = model.usage()
    assert (usage["missing_words"], usage["samples_missing_words"], usage["missing_rate"]) == (2, 2, 1.0)


def test_word_matching_rule() -> None:
    assert match_word("good", {"▁good": -1.0, "good": -3.0}) == -1.0
    assert match_word("good", {"Ġgood": -1.5}) == -1.5
    assert match_word("good", {"good": -2.0}) == -2.0
    assert match_word("good", {" Good": -0.5, " GOOD": -4.0}) == -0.5  # case-insensitive only as a fallback
    assert match_word("good", {" Good": -0.5, " good": -0.9}) == -0.9  # exact case first
    assert match_word("good", {" goods": -0.5, "go": -1.0}) is None


def test_fallback_puts_the_instruction_in_the_user_text() -> None:
    with FakeOpenAIServer(
        lambda body: Reply(text="Good", top_logprobs={"Good": -0.2, "Poor": -2.0})
    ) as server:
        model = make_model(server, continue_final_message="false")
        (result,) = model.score_tokens([a3_request()])
        model.close()
    assert result == {"good": -0.2, "poor": -2.0}
    body = server.bodies[0]
    assert "continue_final_message" not in body and "add_generation_prompt" not in body
    (user,) = body["messages"]
    assert user["content"][-1]["text"].startswith("Answer with one word that completes the sentence")
    assert "The quality of the image is" in user["content"][-1]["text"]
    assert model.info()["score_tokens"]["method"] == "a3-api-instruction-v1"


def test_a_server_without_logprobs_is_a_clear_error() -> None:
    with FakeOpenAIServer(logprobs=False) as server:
        model = make_model(server)
        with pytest.raises(ModelError, match="returned no log-probs"):
            model.score_tokens([a3_request()])
        model.close()


def test_a_400_for_the_continuation_suggests_the_fallback() -> None:
    with FakeOpenAIServer(lambda body: Reply.error(400, "unknown field continue_final_message")) as server:
        model = make_model(server)
        with pytest.raises(ModelError, match="continue_final_message=false"):
            model.score_tokens([a3_request()])
        model.close()


# -- usage, options, identity ------------------------------------------------------------------------------------


def test_usage_is_summed_over_requests() -> None:
    def responder(body: dict[str, Any]) -> Reply:
        return Reply(text="x", usage={"prompt_tokens": 100, "completion_tokens": 3})

    with FakeOpenAIServer(responder) as server:
        model = make_model(server)
        model.generate(text_requests(6))
        model.close()
    usage = model.usage()
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (600, 18, 618)
    assert (usage["requests"], usage["answered"]) == (6, 6)


def test_option_typo_gets_did_you_mean() -> None:
    with pytest.raises(UsageError) as caught:
        create("m", {"api_base": "http://127.0.0.1:1/v1", "concurency": "4"})
    assert "concurrency" in caught.value.one_line() and "did you mean" in caught.value.one_line()
    with pytest.raises(UsageError, match="png or jpeg"):
        create("m", {"api_base": "http://127.0.0.1:1/v1", "image_format": "gif"})
    with pytest.raises(UsageError, match="needs a model name"):
        create("", {})


def test_key_and_base_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    local = create("m", {})
    assert local.settings.api_key == "EMPTY"  # a local vLLM started without --api-key
    assert local.info()["server"] == "http://localhost:8000/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(ModelError, match="no API key"):
        create("m", {})  # api.openai.com without a key
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-env")
    hosted = create("gpt-4o", {"api_base": "https://user:pw@api.example.com/v1?key=sk-q"})
    blob = json.dumps(model_info(hosted))
    assert "sk-secret-env" not in blob and "pw" not in blob and "sk-q" not in blob
    assert hosted.info()["server"] == "https://api.example.com/v1"


def test_concurrent_calls_share_one_model_safely() -> None:
    """Two threads (e.g. a run and its judge) using one model: usage stays exact."""
    with FakeOpenAIServer(latency=0.02) as server:
        model = make_model(server, concurrency=8)
        threads = [threading.Thread(target=model.generate, args=(text_requests(20),)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        model.close()
    assert model.usage()["answered"] == 40 == server.count
