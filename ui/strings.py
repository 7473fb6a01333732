"""Every word the app shows, in English and Korean.

Labels and help texts go to `gr.I18n`, which the browser's language picks. Messages with
numbers in them are formatted here in the language of the request's Accept-Language header,
which follows the same browser setting.
"""

from __future__ import annotations

import gradio as gr

# key: (English, Korean)
LABELS = {
    "title": ("# Train a small GPT in your browser",
              "# 브라우저에서 작은 GPT 학습하기"),
    "intro": ("Pick a preset, press **Train** and watch the loss fall; the **Sample** tab writes text with the "
              "latest checkpoint. Training keeps running if you close this page.",
              "프리셋을 고르고 **학습 시작**을 누르면 손실이 내려가는 것을 볼 수 있습니다. **샘플** 탭에서는 최신 "
              "체크포인트로 글을 생성합니다. 페이지를 닫아도 학습은 계속됩니다."),
    "tab_train": ("Train", "학습"), "tab_data": ("Data", "데이터"), "tab_sample": ("Sample", "샘플"),
    "preset": ("Preset", "프리셋"),
    "preset_info": ("Fills the sliders; change anything afterwards.", "슬라이더 값을 채웁니다. 이후 자유롭게 바꿀 수 있습니다."),
    "preset_cpu_quick": ("CPU quick (posting-like samples in ~3 min on 2 cores)",
                         "CPU 빠른 학습 (2코어에서 약 3분이면 공고 같은 샘플)"),
    "preset_original_recipe": ("Original recipe (GPU)", "원래 레시피 (GPU)"),
    "group_model": ("### Model", "### 모델"), "group_optim": ("### Optimisation", "### 최적화"),
    "group_eval": ("### Evaluation and samples", "### 평가와 샘플"),
    "block_size": ("block_size (context length)", "block_size (문맥 길이)"),
    "block_size_info": ("How many tokens the model sees at once.", "모델이 한 번에 보는 토큰 수."),
    "n_layer": ("n_layer (layers)", "n_layer (층 수)"),
    "n_layer_info": ("Transformer blocks stacked; deeper learns more, slower.", "쌓는 트랜스포머 블록 수. 깊을수록 더 배우지만 느립니다."),
    "n_head": ("n_head (attention heads)", "n_head (어텐션 헤드 수)"),
    "n_head_info": ("Must divide n_embd.", "n_embd를 나누어 떨어지게 해야 합니다."),
    "n_embd": ("n_embd (width)", "n_embd (임베딩 차원)"),
    "n_embd_info": ("Size of each token's vector.", "토큰 하나를 나타내는 벡터의 크기."),
    "dropout": ("dropout", "dropout (드롭아웃)"),
    "dropout_info": ("Randomly zeroes activations in training; fights overfitting.", "학습 중 일부 값을 무작위로 0으로 만들어 과적합을 줄입니다."),
    "batch_size": ("batch_size", "batch_size (배치 크기)"),
    "batch_size_info": ("Sequences per step; larger is smoother but slower per step.", "한 스텝에 쓰는 문장 수. 클수록 안정적이지만 느립니다."),
    "lr": ("lr (learning rate)", "lr (학습률)"),
    "lr_info": ("Step size of AdamW; too high diverges, too low crawls.", "AdamW의 보폭. 너무 크면 발산하고 너무 작으면 느립니다."),
    "max_steps": ("max_steps", "max_steps (최대 스텝)"),
    "max_steps_info": ("Training stops at this step (resumed runs continue up to it).", "이 스텝에서 학습을 멈춥니다 (이어서 학습할 때도 여기까지)."),
    "grad_clip": ("grad_clip", "grad_clip (그래디언트 클리핑)"),
    "grad_clip_info": ("Caps the gradient norm; 0 turns it off.", "그래디언트 크기의 상한. 0이면 끕니다."),
    "lr_schedule": ("lr_schedule", "lr_schedule (학습률 스케줄)"),
    "lr_schedule_info": ("constant (original recipe) or warmup + cosine decay.", "constant (원래 레시피) 또는 워밍업 + 코사인 감소."),
    "eval_interval": ("eval_interval", "eval_interval (평가 간격)"),
    "eval_interval_info": ("Steps between loss estimates, samples and checkpoints.", "손실 측정, 샘플, 체크포인트 저장 사이의 스텝 수."),
    "eval_iters": ("eval_iters", "eval_iters (평가 배치 수)"),
    "eval_iters_info": ("Batches averaged per loss estimate; more is steadier, slower.", "손실 추정에 평균 내는 배치 수. 많을수록 정확하지만 느립니다."),
    "sample_every_eval": ("sample_every_eval", "sample_every_eval (평가마다 샘플)"),
    "sample_every_eval_info": ("Write a sample at each evaluation.", "평가할 때마다 샘플 문장을 생성합니다."),
    "sample_max_new_tokens": ("sample_max_new_tokens", "sample_max_new_tokens (샘플 길이)"),
    "sample_max_new_tokens_info": ("Length of those samples, in tokens.", "샘플의 길이 (토큰 수)."),
    "temperature": ("temperature", "temperature (온도)"),
    "temperature_info": ("0 = always the likeliest token; higher = more surprising.", "0이면 항상 가장 그럴듯한 토큰, 높을수록 다양해집니다."),
    "top_k": ("top_k", "top_k"),
    "top_k_info": ("Sample only among the k likeliest tokens; 0 = all.", "가장 그럴듯한 k개 중에서만 고릅니다. 0이면 전체."),
    "top_p": ("top_p", "top_p"),
    "top_p_info": ("Sample among the likeliest tokens that add up to p; 1 = all.", "확률 합이 p가 될 때까지의 토큰 중에서 고릅니다. 1이면 전체."),
    "group_device": ("### Device and precision", "### 장치와 정밀도"),
    "device": ("device", "device (장치)"),
    "device_info": ("auto: a GPU if there is one, else the CPU.", "auto: GPU가 있으면 GPU, 없으면 CPU."),
    "dtype": ("precision (number type)", "precision (숫자 형식)"),
    "dtype_info": ("auto: bfloat16 where the hardware computes it natively, else float32. float32 is exact and always "
                   "works; weights and optimizer stay float32 either way.",
                   "auto: 하드웨어가 bfloat16을 직접 계산하면 bfloat16, 아니면 float32. float32는 정확하고 언제나 "
                   "동작합니다. 가중치와 옵티마이저는 어느 쪽이든 float32로 유지됩니다."),
    "sample_precision": ("precision", "precision (정밀도)"),
    "sample_precision_info": ("How the weights are stored while sampling: auto is int8 on most CPUs (fastest); "
                              "float32 is exact.",
                              "샘플링할 때 가중치를 저장하는 형식. auto는 대부분의 CPU에서 int8 (가장 빠름), float32는 정확합니다."),
    "run_name": ("Run name", "실행 이름"),
    "run_name_info": ("Empty: the default run (checkpoints/ckpt.pt). A name keeps the run's checkpoints apart in "
                      "checkpoints/<name>/ and resumes from there; letters, digits, '-', '_', '.' and spaces.",
                      "비워 두면 기본 실행 (checkpoints/ckpt.pt)입니다. 이름을 정하면 체크포인트를 checkpoints/<이름>/에 "
                      "따로 저장하고 거기서 이어서 학습합니다. 글자, 숫자, '-', '_', '.', 공백을 쓸 수 있습니다."),
    "train": ("Train", "학습 시작"), "stop": ("Stop", "중지"),
    "measure": ("Measure step time", "스텝 시간 측정"),
    "resume_checkpoint": ("Resume with the checkpoint's architecture", "체크포인트의 구조로 이어서 학습"),
    "start_fresh": ("Start fresh (keep the old run)", "새로 시작 (이전 학습은 보관)"),
    "plot": ("### Loss", "### 손실"), "log": ("Log", "로그"), "latest_sample": ("Latest sample", "최근 샘플"),
    "corpus": ("Text to train on", "학습할 텍스트"),
    "corpus_builtin_ko": ("Built-in: Korean job postings", "내장: 한국어 채용공고"),
    "corpus_builtin_en": ("Built-in: English job postings", "내장: 영어 채용공고"),
    "corpus_upload": ("My own .txt files", "내 .txt 파일"),
    "upload": ("Upload UTF-8 .txt files", "UTF-8 .txt 파일 올리기"),
    "vocab_size": ("vocab_size (tokenizer)", "vocab_size (토크나이저 어휘 수)"),
    "vocab_size_info": ("BPE vocabulary; the original recipe uses 24000. At most 65535.", "BPE 어휘 크기. 원래 레시피는 24000, 최대 65535."),
    "prepare": ("Prepare data", "데이터 준비"),
    "preview": ("Token preview (each colour is one token)", "토큰 미리보기 (색 하나가 토큰 하나)"),
    "prompt": ("Prompt", "프롬프트"),
    "prompt_info": ("Empty: start a new document.", "비워 두면 새 문서를 시작합니다."),
    "max_new_tokens": ("max_new_tokens", "max_new_tokens (생성 토큰 수)"),
    "seed": ("seed (-1: random)", "seed (-1: 무작위)"),
    "sample_run": ("Run", "실행"),
    "sample_run_info": ("Which run's checkpoint writes the text.", "어느 실행의 체크포인트로 글을 생성할지 고릅니다."),
    "default_run": ("(default)", "(기본)"),
    "generate": ("Generate", "생성"), "refresh": ("Refresh checkpoint", "체크포인트 새로고침"),
    "download": ("Download ckpt.pt", "ckpt.pt 내려받기"),
    "output": ("Generated text", "생성된 글"),
    "temporary_storage": ("⚠️ This Space has no persistent storage: checkpoints are lost when it restarts. "
                          "To keep it, click Refresh checkpoint in the Sample tab, then Download ckpt.pt.",
                          "⚠️ 이 Space에는 영구 저장소가 없어 재시작하면 체크포인트가 사라집니다. 보관하려면 샘플 탭에서 "
                          "체크포인트 새로고침을 누른 뒤 ckpt.pt를 내려받으세요."),
}

# key: (English, Korean) with str.format placeholders.
MESSAGES = {
    "idle": ("No training run yet.", "아직 학습을 시작하지 않았습니다."),
    "preparing": ("Preparing data: {message}", "데이터 준비 중: {message}"),
    "running": ("Training: step {step:,} of {max_steps:,}.", "학습 중: {max_steps:,} 스텝 중 {step:,}."),
    "stopping": ("Stopping after the current step…", "현재 스텝이 끝나면 멈춥니다…"),
    "finished": ("{message}. Checkpoint: `{checkpoint}`", "{message}. 체크포인트: `{checkpoint}`"),
    "finished_done": ("Done: reached max_steps ({step:,}). Checkpoint: `{checkpoint}`",
                      "완료: max_steps({step:,})에 도달했습니다. 체크포인트: `{checkpoint}`"),
    "stopped": ("Stopped at step {step:,}; checkpoint saved to `{checkpoint}`. Train again to resume.",
                "{step:,} 스텝에서 멈췄습니다. 체크포인트 저장 위치: `{checkpoint}`. 다시 학습하면 이어서 진행합니다."),
    "failed": ("**Training stopped:** {message}", "**학습이 멈췄습니다:** {message}"),
    "architecture": ("**The checkpoint has another architecture.** {message}\n\nChoose below: resume it with its own "
                     "architecture, or start fresh (the old checkpoint is kept under a new name).",
                     "**체크포인트의 모델 구조가 다릅니다.** {message}\n\n아래에서 고르세요: 체크포인트의 구조로 이어서 학습하거나, "
                     "새로 시작합니다 (이전 체크포인트는 다른 이름으로 보관됩니다)."),
    "tokenizer": ("**The checkpoint was trained on other data.** {message}\n\nStart fresh to train on the current data "
                  "(the old checkpoint is kept under a new name).",
                  "**체크포인트가 다른 데이터로 학습되었습니다.** {message}\n\n현재 데이터로 학습하려면 새로 시작하세요 "
                  "(이전 체크포인트는 다른 이름으로 보관됩니다)."),
    "advice_plateau": ("💡 The validation loss has not improved by 1% in {evaluations} evaluations (best {best:.3f} at "
                       "step {best_step:,}): try a lower learning rate, e.g. lr {suggested_lr:.1e}.",
                       "💡 검증 손실이 {evaluations}번의 평가 동안 1% 넘게 줄지 않았습니다 (최저 {best:.3f}, 스텝 {best_step:,}). "
                       "학습률을 낮춰 보세요 (예: lr {suggested_lr:.1e})."),
    "advice_overfitting": ("⚠️ Overfitting: the validation loss rose from {best:.3f} (step {best_step:,}) to {val_loss:.3f} "
                           "while the training loss kept falling. The best model is kept in `{best_path}`; more text, "
                           "more dropout or a smaller model help.",
                           "⚠️ 과적합: 학습 손실은 계속 줄지만 검증 손실이 {best:.3f} (스텝 {best_step:,})에서 {val_loss:.3f}(으)로 "
                           "올랐습니다. 가장 좋은 모델은 `{best_path}`에 보관되어 있습니다. 텍스트를 늘리거나 dropout을 높이거나 "
                           "모델을 줄이면 도움이 됩니다."),
    "watching": ("A training run started by another visitor is in progress; you are watching it read-only.",
                 "다른 방문자가 시작한 학습이 진행 중입니다. 읽기 전용으로 보고 있습니다."),
    "busy": ("A training run is already in progress; only one runs at a time.",
             "이미 학습이 진행 중입니다. 한 번에 하나만 실행할 수 있습니다."),
    "not_owner": ("Only the visitor who started this run can stop it.", "이 학습을 시작한 방문자만 멈출 수 있습니다."),
    "stop_requested": ("Stopping after the current step; a checkpoint will be saved.",
                       "현재 스텝이 끝나면 멈추고 체크포인트를 저장합니다."),
    "nothing_to_stop": ("No training run is in progress.", "진행 중인 학습이 없습니다."),
    "invalid": ("**Fix these first:**\n{problems}", "**먼저 고쳐 주세요:**\n{problems}"),
    "summary": ("**{parameters}** parameters · **{tokens_per_step:,}** tokens per step · about **{memory}** of memory · "
                "about **{step_time}** per step on {device} ({how}) · {steps:,} steps ≈ **{total}** · "
                "precision **{dtype}** ({dtype_reason})",
                "파라미터 **{parameters}**개 · 스텝당 토큰 **{tokens_per_step:,}**개 · 메모리 약 **{memory}** · "
                "{device}에서 스텝당 약 **{step_time}** ({how}) · {steps:,} 스텝 ≈ **{total}** · "
                "정밀도 **{dtype}** ({dtype_reason})"),
    "estimated": ("estimated from a measurement on this device", "이 장치에서 측정한 값으로 추정"),
    "measured": ("measured with this config", "이 설정으로 직접 측정"),
    "measuring": ("measuring…", "측정 중…"),
    "progress": ("step {step:,} / {max_steps:,} · {tokens_per_second:,.0f} tokens/s · elapsed {elapsed} · ETA {eta}",
                 "스텝 {step:,} / {max_steps:,} · 초당 {tokens_per_second:,.0f} 토큰 · 경과 {elapsed} · 남은 시간 {eta}"),
    "data_ready": ("**{source}**: {train_tokens:,} train and {val_tokens:,} validation tokens, vocabulary {vocab_size:,}, "
                   "{tokens_per_byte:.2f} tokens per byte.",
                   "**{source}**: 학습 토큰 {train_tokens:,}개, 검증 토큰 {val_tokens:,}개, 어휘 {vocab_size:,}개, "
                   "바이트당 {tokens_per_byte:.2f} 토큰."),
    "no_data": ("No data prepared yet: the first Train prepares the built-in corpus.",
                "아직 준비된 데이터가 없습니다. 처음 학습을 시작하면 내장 말뭉치를 준비합니다."),
    "data_error": ("**Cannot use this data:** {message}", "**이 데이터를 쓸 수 없습니다:** {message}"),
    "need_upload": ("Upload at least one .txt file first.", "먼저 .txt 파일을 하나 이상 올려 주세요."),
    "checkpoint_info": ("**Checkpoint** `{path}` · step **{step:,}** · val loss **{val_loss}** ({val_bpb} bits/byte) · "
                        "saved {saved} · n_layer {n_layer}, n_embd {n_embd}, n_head {n_head}, block_size {block_size}, vocab {vocab_size:,} · "
                        "sampling with {precision} weights",
                        "**체크포인트** `{path}` · 스텝 **{step:,}** · 검증 손실 **{val_loss}** (바이트당 {val_bpb} 비트) · "
                        "저장 {saved} · 층 {n_layer}개, 임베딩 {n_embd}차원, 헤드 {n_head}개, 블록 {block_size}, 어휘 {vocab_size:,}개 · "
                        "샘플링 가중치 {precision}"),
    "no_checkpoint": ("No checkpoint yet: train first.", "아직 체크포인트가 없습니다. 먼저 학습하세요."),
    "checkpoint_error": ("**Cannot sample:** {message}", "**샘플을 만들 수 없습니다:** {message}"),
    "sample_failed": ("**Generating stopped:** the model failed while sampling with {precision} weights; the text so far "
                      "is kept above. Try precision {suggestion}.",
                      "**생성이 멈췄습니다:** {precision} 가중치로 샘플링하다가 모델이 실패했습니다. 지금까지의 글은 위에 남아 "
                      "있습니다. precision을 {suggestion}(으)로 바꿔 보세요."),
    "sample_problem": ("**Fix this first:** {message}", "**먼저 고쳐 주세요:** {message}"),
}

# Our keys get a prefix: gradio's own translations use keys like "plot" and "upload" for
# groups of strings, and a clash shows "[object Object]" instead of the label.
KEY_PREFIX = "gpt_trainer_"
i18n = gr.I18n(en={KEY_PREFIX + key: english for key, (english, _) in LABELS.items()},
               ko={KEY_PREFIX + key: korean for key, (_, korean) in LABELS.items()})


def label(key: str):
    """A label or help text that the browser shows in its language."""
    if key not in LABELS:
        raise KeyError(f"no label {key!r} in ui/strings.py")
    return i18n(KEY_PREFIX + key)


def label_text(key: str, language: str) -> str:
    """A label as plain text in one language, for values a handler fills in (a dropdown's choices)."""
    english, korean = LABELS[key]
    return korean if language == "ko" else english


def language_of(request: gr.Request | None) -> str:
    """"ko" when the browser prefers Korean, else "en"."""
    if request is None:
        return "en"
    accepted = (request.headers.get("accept-language") or "").lower()
    return "ko" if accepted.startswith("ko") else "en"


def message(key: str, language: str, **values) -> str:
    english, korean = MESSAGES[key]
    return (korean if language == "ko" else english).format(**values)


def duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
