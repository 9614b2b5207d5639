#!/usr/bin/env python3
"""A command agent for selfevals.

selfevals starts it once per case with the request (JSON) on stdin and reads
the response (JSON) from stdout. With --worker it stays up and answers one
request per line instead (agent.worker: true in the spec).

It stands in for a model: "small" knows two capitals and is cheap, "large"
knows them all and costs ten times as much per token.
"""
import json
import sys

CAPITALS = {
    "france": "Paris", "japan": "Tokyo", "kenya": "Nairobi", "peru": "Lima",
    "canada": "Ottawa", "norway": "Oslo", "egypt": "Cairo", "chile": "Santiago",
}
LEVELS = {"small": (2, 0.000001), "large": (8, 0.00001)}  # capitals known, USD per token


def answer(request):
    question = request["input"]["question"]
    knowledge = request["parameters"].get("model_params", {}).get("knowledge", "small")
    known, price = LEVELS[knowledge]
    reply = "I don't know."
    for country, capital in list(CAPITALS.items())[:known]:
        if country in question.lower():
            reply = f"The capital of {country.title()} is {capital}."
    tokens_in, tokens_out = len(question.split()), len(reply.split())
    return {
        "output": reply,
        "model": "capitals-" + knowledge,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        "cost_usd": (tokens_in + tokens_out) * price,
    }


def main():
    if "--worker" in sys.argv[1:]:
        for line in sys.stdin:
            print(json.dumps(answer(json.loads(line))), flush=True)
    else:
        print(json.dumps(answer(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
