"""The ``py:`` models that wrote the stored old run folders (do not edit: their source is their identity)."""

import os

A1_REPLIES = ["A", "Yes, it is.", "B. No", "The answer is (B).", "I am not sure.", "C"]


class A1Model:
    """Replies by the question's number; fails question 2 when OLD_RUNS_FAIL is set (an incomplete run)."""

    name = "a1-model"

    def generate(self, requests):
        out = []
        for request in requests:
            number = int(request.text.split("Question ")[1].split(" ")[0])
            if number == 2 and os.environ.get("OLD_RUNS_FAIL"):
                raise RuntimeError("question 2 fails on purpose")
            out.append(A1_REPLIES[number])
        return out

    def score_options(self, requests):
        return [[float(len(option)) for option in request.options] for request in requests]


class A1Judge:
    """1 when the reply names the correct option's text or letter; question 5 gets an unreadable reply."""

    name = "a1-judge"

    def generate(self, requests):
        out = []
        for request in requests:
            letter, text = request.text.split("with option [")[1].split("]")[0].split(". ", 1)
            reply = request.text.split("there will be an answer [")[1].split("] provided")[0]
            if reply == "C":
                out.append("I cannot tell.")
                continue
            out.append(f"Result: {int(text.lower() in reply.lower() or reply.startswith(letter))}")
        return out


class Describer:
    """Describes by the number of images and their widths."""

    name = "describer"

    def generate(self, requests):
        return [f"{len(r.images)} image(s) {[im.size[0] for im in r.images]} wide." for r in requests]


class A2Judge:
    """Scores by dimension and width; one reply of the 12-wide image is unreadable."""

    name = "a2-judge"

    def generate(self, requests):
        out = []
        for request in requests:
            text = request.text
            if "[12]" in text and "completely includes" in text:
                out.append("It is fine.")
            elif "precisely reflects" in text:
                out.append("Score: 1")
            else:
                out.append(f"Score: {2 if '[10]' in text else 0}")
        return out


class OtherJudge:
    name = "other-judge"

    def generate(self, requests):
        return ["Score: 2" for _ in requests]


class A3Model:
    """Logits from the image's size: wider is better, taller is worse."""

    name = "a3-model"

    def score_tokens(self, requests):
        return [
            {w: (r.images[0].size[0] if w == "good" else r.images[0].size[1]) / 10 for w in r.words}
            for r in requests
        ]
