# swift-grm: the two commands a newcomer needs are `make run` and `make test`.
SWIFT ?= swift
RELEASE = -c release

.PHONY: run test build bench deps weights clean format lint train-grm train-grm-rl train-rm

MODEL = weights/SmolLM2-135M-Instruct.Q4_1.gguf
## The trained judge: a LoRA adapter on the default model after SPCT's cold start with the compact
## judging prompt (weights/README.md says how it was made). The second stage's judge and its meta
## reward model (standard prompt): make run JUDGE=weights/grm-judge-grpo.gguf META=weights/grm-meta.gguf
JUDGE = weights/grm-judge.gguf
META =
## The scalar reward model instead of the judge (one reward per response, no judgement written):
## make run RM=weights/grm-rm-scalar.gguf
RM =

## The main job: fetch the default model, build in release mode, and have the trained generative
## reward model judge the bundled examples: 8 sampled judgements per item (principles, scores)
## voting (with META: the meta RM's 4 best-rated of them).
run: deps weights build
ifeq ($(RM),)
	./.build/release/grm score --model $(MODEL) --lora $(JUDGE) $(if $(META),--meta $(META) --meta-keep 4) --data examples/judge-examples.jsonl --k 8 --max-tokens 384
else
	./.build/release/grm score --model $(MODEL) --rm $(RM) --data examples/judge-examples.jsonl
endif

## SPCT stage one, from the default model to weights/grm-judge.gguf: synthetic items, reference
## judgements with the compact judge prompt, three cold-start SFT stages (about 62, 30 and 62 minutes
## on 2 cores), rejective fine-tuning (about 25), a fourth cold-start stage (about 60-80, int8
## products) and a second rejective fine-tuning (about 8); stages resume.
## Start it in the background: nohup make train-grm > /dev/null 2>&1 &   (log: runs/grm/train-grm.log)
train-grm: deps weights build
	@mkdir -p runs/grm
	bash scripts/train-grm.sh 2>&1 | tee -a runs/grm/train-grm.log

## SPCT stage two, after train-grm: GRPO from weights/grm-judge.gguf (40 steps, about 65 minutes),
## a meta reward model on the GRPO judge's sampled judgements (runs/grm/grpo.gguf, meta.gguf), and
## the RL judge's evaluation with voting and the meta RM (runs/grm/eval-grpo.json).
## Background: nohup make train-grm-rl > /dev/null 2>&1 &   (log: runs/grm/train-grm-rl.log)
train-grm-rl: deps weights build
	@mkdir -p runs/grm
	bash scripts/train-grm-rl.sh 2>&1 | tee -a runs/grm/train-grm-rl.log

## The scalar (head-only, LoRA) and semi-scalar baselines on 2,001 pairs (LoRA: 7,931), evaluated on the judge's
## 80 test items (runs/grm/rm-*.gguf, eval-rm-*.json). Log: runs/grm/train-rm.log
train-rm: deps weights build
	@mkdir -p runs/grm
	bash scripts/train-rm.sh 2>&1 | tee -a runs/grm/train-rm.log

## Build and run the whole test suite, optimised (SIMD code is 10-100x slower unoptimised).
test: deps weights
	$(SWIFT) test $(RELEASE) -Xswiftc -enable-testing

build:
	$(SWIFT) build $(RELEASE)

## The default model (SmolLM2-135M-Instruct Q4_1) that the tokenizer and model tests read.
weights:
	bash weights/fetch.sh

## Benchmarks: the default model (llama-bench conventions: pp512, tg128, 8 parallel sequences),
## then the kernel microbenchmarks (ours vs OpenBLAS, one run).
bench: deps weights build
	./.build/release/grm bench --model $(MODEL) -p 512 -n 128 -r 5 --batch 8
	./.build/release/grm bench kernels

## The only system dependency: OpenBLAS (Debian: libopenblas-dev).
deps:
	@if [ ! -e /usr/include/x86_64-linux-gnu/cblas.h ] && [ ! -e /usr/include/cblas.h ] && \
	    [ ! -e /usr/include/aarch64-linux-gnu/cblas.h ]; then \
		echo "OpenBLAS headers missing: installing libopenblas-dev"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libopenblas-dev; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq libopenblas-dev; fi; \
	fi

clean:
	rm -rf .build

## Formatting (swift-format, .swift-format): `make format` rewrites, `make lint` checks as CI does.
format:
	$(SWIFT) format format -i -r --configuration .swift-format Sources Tests Benchmarks Package.swift

lint:
	$(SWIFT) format lint --strict -r --configuration .swift-format Sources Tests Benchmarks Package.swift
