"""English: the reference table. Every key exists here; other languages may leave some out."""

NAME = "English"

TEXTS = {
    # Export to Hugging Face (gpt.export, gpt.cli.export).
    "export.not_a_folder": "cannot export to {path}: it is a file, not a folder; choose a new folder",
    "export.folder_not_empty": ("cannot export to {path}: the folder holds other files ({listed}) and no earlier "
                                "export; choose a new or empty folder (nothing was written)"),
    "export.wrote": "exported {checkpoint} to {folder} (Hugging Face transformers, GPT-2 layout)",
    "export.load_with": "load it with transformers:",
    # Bad settings (gpt.config, gpt.sampling).
    "config.positive_whole_number": "{name} must be a positive whole number, got {value}",
    "config.warmup_negative": "warmup_steps cannot be negative, got {value}",
    "config.n_embd_divisible": "n_embd ({n_embd}) must be divisible by n_head ({n_head}): each head gets n_embd / n_head "
                               "dimensions",
    "config.dropout": "dropout must be in [0, 1), got {value}",
    "config.lr_positive": "lr must be a positive number, got {value}",
    "config.lr_too_high": "lr {value} is far too high for AdamW and will diverge; try 3e-4",
    "config.min_lr": "min_lr must be between 0 and lr ({lr}), got {value}",
    "config.grad_clip": "grad_clip must be zero (off) or positive, got {value}",
    "config.weight_decay": "weight_decay must be between 0 and 1, got {value}",
    "config.vocab_size": "vocab_size must be between {low} (the 256 byte values plus end-of-text) and {high} (the "
                         "largest id a uint16 token file can hold), got {value}",
    "config.val_fraction": "val_fraction must be between 0 and 0.5, got {value}",
    "config.eval_interval_after_max_steps": "eval_interval ({eval_interval}) is larger than max_steps ({max_steps}): "
                                            "no evaluation would ever run; lower eval_interval or raise max_steps",
    "config.warmup_too_long": "warmup_steps ({warmup_steps}) must be smaller than max_steps ({max_steps})",
    "config.one_of": "{name} must be one of {allowed}, got {value}",
    "config.empty_path": "{name} cannot be empty",
    "config.block_size_needs_validation_tokens": "block_size ({block_size}) needs more than {block_size} validation "
                                                 "tokens, but the validation split has {tokens:,}; use a smaller "
                                                 "block_size or more text",
    "config.block_size_needs_training_tokens": "block_size ({block_size}) needs more than {block_size} training "
                                               "tokens, but the training split has {tokens:,}; use a smaller "
                                               "block_size or more text",
    "sampling.temperature": "{name} must be zero (greedy) or positive, got {value}",
    "sampling.top_k": "{name} must be zero (off) or positive, got {value}",
    "sampling.top_p": "{name} must be in (0, 1], got {value}",
    "sampling.max_new_tokens": "{name} must be at least 1, got {value}",
    # Run names (gpt.run_name).
    "run_name.problem": "run name {shown} {wrong}: {rule}",
    "run_name.rule": "a run name may only use letters, digits, '-', '_', '.' and spaces, cannot start with '.' or a "
                     "space, and has at most {max_length} characters (it names a folder inside {folder}/)",
    "run_name.not_text": "run name must be text, got {value}",
    "run_name.too_long": "is {length} characters long",
    "run_name.contains": "contains {characters}",
    "run_name.starts_with_dot": "starts with '.'",
    "run_name.starts_with_space": "starts with a space",
    "run_name.ends_with_dot": "ends with '.'",
    "run_name.ends_with_space": "ends with a space",
    "run_name.ends_with_pt": "ends with '.pt', like the default run's checkpoint files",
    "run_name.log_folder": "is the name of the TensorBoard log folder ({name})",
    "run_name.windows_device": "is a device name on Windows",
    "run_name.outside": "leads outside {out_dir}",
    # Why `auto` picked a number type (gpt.device.choose_dtype).
    "dtype_reason.requested": "as requested",
    "dtype_reason.cuda_bf16": "this GPU computes in bfloat16",
    "dtype_reason.cuda_fp16": "this GPU has no bfloat16, so float16 with loss scaling",
    "dtype_reason.cpu_amx": "this CPU has AMX-BF16 units",
    "dtype_reason.cpu_avx512_bf16": "this CPU computes bfloat16 natively (AVX-512 BF16)",
    "dtype_reason.cpu_no_bf16": "this CPU has no native bfloat16 (it would be slower than float32)",
    "dtype_reason.other_device": "float32 is the safe choice on this device",
    # The app's labels and help texts (label.*, field.*) and messages (app.*).
    'label.title': '# Train a small GPT in your browser',
    'label.intro': ('Pick a preset, press **Train** and watch the loss fall; the **Sample** tab writes'
                    ' text with the latest checkpoint. Training keeps running if you close this page.'),
    'label.tab_train': 'Train',
    'label.tab_data': 'Data',
    'label.tab_sample': 'Sample',
    'label.preset': 'Preset',
    'label.preset_info': 'Fills the sliders; change anything afterwards.',
    'label.preset_cpu_quick': 'CPU quick (posting-like samples in ~3 min on 2 cores)',
    'label.preset_original_recipe': 'Original recipe (GPU)',
    'label.group_model': '### Model',
    'label.group_optimisation': '### Optimisation',
    'label.group_evaluation': '### Evaluation and samples',
    'field.block_size': 'block_size (context length)',
    'field.block_size.info': 'How many tokens the model sees at once.',
    'field.n_layer': 'n_layer (layers)',
    'field.n_layer.info': 'Transformer blocks stacked; deeper learns more, slower.',
    'field.n_head': 'n_head (attention heads)',
    'field.n_head.info': 'Must divide n_embd.',
    'field.n_embd': 'n_embd (width)',
    'field.n_embd.info': "Size of each token's vector.",
    'field.dropout': 'dropout',
    'field.dropout.info': 'Randomly zeroes activations in training; fights overfitting.',
    'field.batch_size': 'batch_size',
    'field.batch_size.info': 'Sequences per step; larger is smoother but slower per step.',
    'field.lr': 'lr (learning rate)',
    'field.lr.info': 'Step size of AdamW; too high diverges, too low crawls.',
    'field.max_steps': 'max_steps',
    'field.max_steps.info': 'Training stops at this step (resumed runs continue up to it).',
    'field.grad_clip': 'grad_clip',
    'field.grad_clip.info': 'Caps the gradient norm; 0 turns it off.',
    'field.lr_schedule': 'lr_schedule',
    'field.lr_schedule.info': 'constant (original recipe) or warmup + cosine decay.',
    'field.eval_interval': 'eval_interval',
    'field.eval_interval.info': 'Steps between loss estimates, samples and checkpoints.',
    'field.eval_iters': 'eval_iters',
    'field.eval_iters.info': 'Batches averaged per loss estimate; more is steadier, slower.',
    'field.sample_every_eval': 'sample_every_eval',
    'field.sample_every_eval.info': 'Write a sample at each evaluation.',
    'field.sample_prompt': 'sample prompt',
    'field.sample_prompt.info': ('The text each evaluation\'s sample continues, with the same seed every time, so '
                                 'the samples show what the model learnt; empty: the start of a new document.'),
    'field.sample_max_new_tokens': 'sample_max_new_tokens',
    'field.sample_max_new_tokens.info': 'Length of those samples, in tokens.',
    'field.temperature': 'temperature',
    'field.temperature.info': '0 = always the likeliest token; higher = more surprising.',
    'field.top_k': 'top_k',
    'field.top_k.info': 'Sample only among the k likeliest tokens; 0 = all.',
    'field.top_p': 'top_p',
    'field.top_p.info': 'Sample among the likeliest tokens that add up to p; 1 = all.',
    'label.group_device': '### Device and precision',
    'field.device': 'device',
    'field.device.info': 'auto: a GPU if there is one, else the CPU.',
    'field.dtype': 'precision (number type)',
    'field.dtype.info': ('auto: bfloat16 where the hardware computes it natively, else float32. '
                         'float32 is exact and always works; weights and optimizer stay float32 either'
                         ' way.'),
    'label.sample_precision': 'precision',
    'label.sample_precision_info': ('How the weights are stored while sampling: auto is int8 on most '
                                    'CPUs (fastest); float32 is exact.'),
    'field.run_name': 'Run name',
    'field.run_name.info': ("Empty: the default run (checkpoints/ckpt.pt). A name keeps the run's "
                            'checkpoints apart in checkpoints/<name>/ and resumes from there; letters,'
                            " digits, '-', '_', '.' and spaces."),
    'field.tensorboard': 'TensorBoard log',
    'field.tensorboard.info': ('Write losses, learning rate, grad norm, tokens/s and samples to the run\'s '
                               'tensorboard/ folder; view them with: tensorboard --logdir checkpoints'),
    'label.train': 'Train',
    'label.stop': 'Stop',
    'label.measure': 'Measure step time',
    'label.resume_checkpoint': "Resume with the checkpoint's architecture",
    'label.start_fresh': 'Start fresh (keep the old run)',
    'label.plot': '### Loss',
    'label.log': 'Log',
    'label.latest_sample': 'Latest sample',
    'label.corpus': 'Text to train on',
    'label.corpus_builtin_ko': 'Built-in: Korean job postings',
    'label.corpus_builtin_en': 'Built-in: English job postings',
    'label.corpus_upload': 'My own .txt files',
    'label.upload': 'Upload UTF-8 .txt files',
    'field.vocab_size': 'vocab_size (tokenizer)',
    'field.vocab_size.info': 'BPE vocabulary; the original recipe uses 24000. At most 65535.',
    'label.prepare': 'Prepare data',
    'label.preview': 'Token preview (each colour is one token)',
    'label.prompt': 'Prompt',
    'label.prompt_info': 'Empty: start a new document.',
    'field.max_new_tokens': 'max_new_tokens',
    'field.seed': 'seed (-1: random)',
    'label.sample_run': 'Run',
    'label.sample_run_info': "Which run's checkpoint writes the text.",
    'label.default_run': '(default)',
    'label.generate': 'Generate',
    'label.reproducibility': 'How this checkpoint was trained (reproducibility card)',
    'label.export': 'Export for Hugging Face transformers',
    'label.export_file': 'transformers folder (zip)',
    'label.refresh': 'Refresh checkpoint',
    'label.download': 'Download ckpt.pt',
    'label.output': 'Generated text',
    'label.temporary_storage': ('⚠️ This Space has no persistent storage: checkpoints are lost when it'
                                ' restarts. To keep it, click Refresh checkpoint in the Sample tab, '
                                'then Download ckpt.pt.'),
    'app.idle': 'No training run yet.',
    'app.preparing': 'Preparing data: {message}',
    'app.running': 'Training: step {step:,} of {max_steps:,}.',
    'app.stopping': 'Stopping after the current step…',
    'app.finished': '{message}. Checkpoint: `{checkpoint}`',
    'app.finished_done': 'Done: reached max_steps ({step:,}). Checkpoint: `{checkpoint}`',
    'app.stopped': 'Stopped at step {step:,}; checkpoint saved to `{checkpoint}`. Train again to resume.',
    'app.failed': '**Training stopped:** {message}',
    'app.architecture': ('**The checkpoint has another architecture.** {message}\n\nChoose below: resume'
                         ' it with its own architecture, or start fresh (the old checkpoint is kept '
                         'under a new name).'),
    'app.tokenizer': ('**The checkpoint was trained on other data.** {message}\n\nStart fresh to train '
                      'on the current data (the old checkpoint is kept under a new name).'),
    'app.watching': 'A training run started by another visitor is in progress; you are watching it read-only.',
    'app.busy': 'A training run is already in progress; only one runs at a time.',
    'app.not_owner': 'Only the visitor who started this run can stop it.',
    'app.stop_requested': 'Stopping after the current step; a checkpoint will be saved.',
    'app.nothing_to_stop': 'No training run is in progress.',
    'app.invalid': '**Fix these first:**\n{problems}',
    'app.summary': ('**{parameters}** parameters · **{tokens_per_step:,}** tokens per step · about '
                    '**{memory}** of memory · about **{step_time}** per step on {device} ({how}) · '
                    '{steps:,} steps ≈ **{total}** · precision **{dtype}** ({dtype_reason})'),
    'app.estimated': 'estimated from a measurement on this device',
    'app.measured': 'measured with this config',
    'app.measuring': 'measuring…',
    'app.progress': ('step {step:,} / {max_steps:,} · {tokens_per_second:,.0f} tokens/s · elapsed '
                     '{elapsed} · ETA {eta}'),
    'app.data_ready': ('**{source}**: {train_tokens:,} train and {val_tokens:,} validation tokens, '
                       'vocabulary {vocab_size:,}, {tokens_per_byte:.2f} tokens per byte.'),
    'app.no_data': 'No data prepared yet: the first Train prepares the built-in corpus.',
    'app.data_error': '**Cannot use this data:** {message}',
    'app.need_upload': 'Upload at least one .txt file first.',
    'app.checkpoint_info': ('**Checkpoint** `{path}` · step **{step:,}** · val loss **{val_loss}** '
                            '({val_bpb} bits/byte) · saved {saved} · n_layer {n_layer}, n_embd '
                            '{n_embd}, n_head {n_head}, block_size {block_size}, vocab {vocab_size:,} '
                            '· sampling with {precision} weights'),
    'app.no_checkpoint': 'No checkpoint yet: train first.',
    'app.export_failed': '**Cannot export:** {message}',
    'app.exported': 'Exported: unzip it and load it with `AutoModelForCausalLM.from_pretrained(folder)`.',
    'app.checkpoint_error': '**Cannot sample:** {message}',
    'app.sample_failed': ('**Generating stopped:** the model failed while sampling with {precision} '
                          'weights; the text so far is kept above. Try precision {suggestion}.'),
    'app.sample_problem': '**Fix this first:** {message}',
    # Training (gpt.train, gpt.run_setup, gpt.run) and loss-curve advice (gpt.health).
    "train.batch_per_process": ("batch_size ({batch_size}) must be divisible by the number of processes ({processes}): "
                                "each trains on an equal share of the batch"),
    "train.done": "reached max_steps ({max_steps:,})",
    "train.already_done": ("the checkpoint is already at step {step:,}, not below max_steps ({max_steps:,}); raise "
                           "max_steps to train further"),
    "train.stopped": "stopped at step {step:,}",
    "train.diverged": ("the loss became {loss:.4g} at step {step:,} (random guessing scores {random:.2f}): the learning "
                       "rate {lr:g} is too high; {tip}{kept}"),
    "train.val_diverged": "the validation loss became {loss:.4g} at step {step:,}; {tip}; the last good checkpoint is kept",
    "train.last_good_kept": "; the last good checkpoint ({checkpoint}) is kept",
    "train.kept": "the last checkpoint ({checkpoint}, step {step:,}) is kept",
    "train.nothing_kept": "no checkpoint was saved yet",
    "train.out_of_memory": "the {device} device ran out of memory at step {step:,}; {kept}. Try {tips}",
    "train.failed": "{phase} failed at step {step:,} ({dtype} on {device}); {kept}. Try {suggestion}",
    "train.phase.step": "the training step",
    "train.phase.evaluation": "the loss evaluation",
    "train.phase.sample": "the sample",
    "train.phase.save": "saving the checkpoint",
    "setup.bins_beyond_tokenizer": ("{path} holds token ids beyond the tokenizer's {vocab_size:,} tokens: the bins and "
                                    "{tok_path} do not belong together; prepare the data again"),
    "setup.data_incomplete": ("the data is incomplete: {missing} missing; prepare it again (the app's Data tab, or "
                              "python scripts/prepare_data.py --input your.txt) or delete all three files to use the "
                              "built-in corpus"),
    "run.too_big_for_memory": ("this config needs about {needed:.1f} GiB for a training step but only {available:.1f} "
                               "GiB is free; try {tips}"),
    "health.overfitting": ("the validation loss rose from {best:.3f} (step {best_step:,}) to {val_loss:.3f} while the "
                           "training loss kept falling: the model is memorising its training text (overfitting). The "
                           "best model so far is kept in {best_path}; more text, more dropout or a smaller model help"),
    "health.plateau": ("the validation loss has not improved by 1% in {evaluations} evaluations (best {best:.3f} at step "
                       "{best_step:,}): try a lower learning rate, e.g. lr {suggested_lr:.1e} (now {lr:g})"),
    # Checkpoints (gpt.checkpoint).
    "checkpoint.architecture": "the checkpoint {path} has a different architecture ({listed})",
    "checkpoint.difference": "{name} {saved} in the checkpoint vs {requested} requested",
    "checkpoint.architecture_cli": ("{differences}. Resume it with its own architecture (--keep_checkpoint_architecture) "
                                    "or start a new run (--fresh; the old checkpoint is kept under a new name)"),
    "checkpoint.missing": "no checkpoint at {path}; train a model first",
    "checkpoint.raw_pickle": ("refused to load {path}: it is a raw Python pickle, not a checkpoint of tensors and plain "
                              "data; such a file could run code"),
    "checkpoint.unsafe": ("refused to load {path}: it contains objects other than tensors and plain data, which could "
                          "run code ({reason})"),
    "checkpoint.corrupt": "{path} is not a readable checkpoint (corrupt: {reason})",
    "checkpoint.unreadable": "{path} is not a readable checkpoint (truncated or corrupt: {reason})",
    "checkpoint.not_ours": "{path} is not a checkpoint of this project (missing {missing})",
    "checkpoint.newer_format": ("{path} was written by a newer version of this project (format {found}, this one reads "
                                "{reads}); update the code"),
    "checkpoint.other_tokenizer": ("the checkpoint was trained with a different tokenizer (fingerprint {saved}, "
                                   "{vocab_size} tokens) than {path} (fingerprint {fingerprint}); its output would be "
                                   "garbage. Use the tokenizer it was trained with, or train a new model (--fresh)"),
    # Tokenizer and data (gpt.tokenizer, gpt.data).
    "tokenizer.missing": ("tokenizer file {path} does not exist; prepare data first (python scripts/prepare_data.py) or "
                          "delete the bins so training prepares them"),
    "tokenizer.corrupt": ("tokenizer file {path} is corrupt or not a tokenizer.json ({reason}); prepare the data again "
                          "to rebuild it"),
    "tokenizer.no_end_of_text": ("tokenizer file {path} has no {token} token; it was not made by this project; prepare "
                                 "the data again to rebuild it"),
    "data.no_such_file": "{path}: no such file",
    "data.empty_file": "{name}: the file is empty",
    "data.over_limit": "{name}: {size} is over the {limit} upload limit",
    "data.size_mb": "{megabytes:,.1f} MB",
    "data.size_bytes": "{size:,} bytes",
    "data.binary_file": ("{name}: this looks like a binary file (it contains NUL bytes, first at byte {offset:,}); give "
                         "a plain UTF-8 text file"),
    "data.not_utf8": "{name}: not valid UTF-8 at byte {offset:,}; save the file as UTF-8 text (e.g. 'Save as... UTF-8')",
    "data.ends_mid_character": "{name}: not valid UTF-8 at byte {offset:,} (the file ends in the middle of a character)",
    "data.only_whitespace": "{name}: the file holds only whitespace",
    "data.too_short": ("the text is too short: it makes {tokens:,} tokens, so the {fraction:.0%} validation split would "
                       "hold {val_tokens:,}; give more text (at least a few thousand words)"),
    "data.no_files": "no input files were given",
    "data.no_token_file": "token file {path} does not exist; prepare the data first",
    "data.empty_token_file": "token file {path} is empty; prepare the data again",
    "data.training_tokenizer": "training a {vocab_size:,}-token BPE tokenizer{sampled}",
    "data.sampled_text": " on 1/{stride} of the text",
    "data.tokenizer_ready": "tokenizer has {vocab_size:,} tokens",
    "data.encoding": "encoding the text into token ids",
    "data.tokens_so_far": "{count:,} tokens",
    "data.done": "{train_tokens:,} train and {val_tokens:,} val tokens",
    "data.generating": "generating {megabytes:.0f} MB of job postings ({language})",
    "data.generated": "{count:,} postings written to {path}",
    # The command line (gpt.cli). Lines scripts parse ("step N train_loss=...") are not here: they never change.
    "cli.error": "error: {message}",
    "cli.error_detail": "error detail: {detail}",
    "cli.data_ready": "data ready: {message}",
    "cli.device": "device: {device}, {dtype} ({reason})",
    "cli.cpu_features": "CPU features: {features}",
    "cli.vocab_size": "vocab size: {vocab_size:,}",
    "cli.train_tokens": "train tokens: {tokens:,}",
    "cli.val_tokens": "val tokens: {tokens:,}",
    "cli.parameters": "parameters: {parameters:,}",
    "cli.tokens_per_step": "tokens per step: {tokens:,}",
    "cli.archived": "started fresh; the previous checkpoint was kept as {path}",
    "cli.resuming": "resuming from step {step:,}",
    "cli.starting": "training...",
    "cli.sample": "--- sample at step {step} ---\n{text}\n---",
    "cli.saved": "saved checkpoint {path}",
    "cli.saved_best": "saved checkpoint {path} (best so far, also {best})",
    "cli.advice": "advice: {message}",
    "cli.finished": "{message}; checkpoint: {checkpoint}",
    "cli.stopping": "{signal}: stopping after this step and saving a checkpoint (press Ctrl-C again to quit at once)",
    "cli.interrupted": "interrupted; the last checkpoint saved is kept",
    "cli.checkpoint_summary": "checkpoint at step {step:,}: val loss {val_loss:.4f}, {val_bpb:.4f} bits per byte",
    "cli.no_history": "this checkpoint keeps no samples (sampling at evaluations was off, or it was saved by an older version)",
    "cli.history_prompt": "# each evaluation's sample of the prompt {prompt!r}, with the same seed",
    "cli.history_new_document": "# each evaluation's sample from the start of a new document, with the same seed",
    "cli.history_entry": "=== step {step:,} · val loss {val_loss:.4f} · {val_bpb} bits per byte ===",
    "cli.history_end": "===",
    "cli.sampling_from": "# step {step:,} of {checkpoint}",
    "cli.long_prompt": "# the prompt is longer than block_size ({block_size} tokens): the model sees its last {block_size}",
    "cli.prepared": ("{source}: {megabytes:,.1f} MB of text -> {train_tokens:,} train and {val_tokens:,} val tokens, "
                     "vocab {vocab_size:,}, {tokens_per_byte:.3f} tokens/byte, {seconds:.1f} s ({speed:,.1f} MB/s)"),
    "cli.wrote": "wrote {files}",
    # The app's log and status (ui.job, ui.*_tab).
    "app.error_detail": "error detail: {detail}",
    "app.could_not_start": ("the run could not start because of an unexpected error; nothing was changed on disk. The "
                            "log below has the details"),
    "app.log_started": ("device {device} ({dtype}: {reason}), {parameters:,} parameters, vocab {vocab_size:,}, "
                        "{train_tokens:,} train / {val_tokens:,} val tokens"),
    "app.log_cpu_features": "CPU features: {features}",
    "app.log_archived": "previous run kept as {path}",
    "app.log_resuming": "resuming from step {step:,}",
    "app.log_advice": "advice: {message}",
    "app.log_saved": "saved {path}",
    "app.log_saved_best": "saved {path} (best so far: {best})",
    "app.note_long_prompt": ("the prompt is longer than block_size ({block_size} tokens): the model sees its last "
                             "{block_size} tokens"),
    "app.note_top_k": "top_k {top_k} is larger than the vocabulary ({vocab_size:,}): all tokens are candidates",
    # The loss plot (ui.plots).
    "plot.band_good": "below 2: good (watch for overfitting)",
    "plot.band_meaningful": "2-3: meaningful text",
    "plot.band_format": "3-5: learning the format",
    "plot.band_grammar": "5-7: grammar starting",
    "plot.band_random": "above 10: random",
    "plot.random_guess": "random guess ln({vocab_size:,}) = {level:.2f}",
    "plot.train_batch": "train loss (batch)",
    "plot.train_eval": "train loss (eval)",
    "plot.val": "val loss",
    "plot.step": "step",
    "plot.loss": "loss (nats/token)",
    # The reproducibility card (gpt.reproducibility) and the TensorBoard log (gpt.tensorboard_log).
    "repro.versions": "small-gpt-trainer {package} ({source}), torch {torch}, Python {python}",
    "repro.git": "git commit {commit}{changed}",
    "repro.git_changed": " with uncommitted changes",
    "repro.no_git": "not a git clone",
    "repro.device": "trained on {device} ({name}) in {dtype}; CPU features: {features}",
    "repro.seed": "seed {seed}",
    "repro.data": "data fingerprints: train.bin {train}, val.bin {val}, tokenizer {tokenizer}",
    "repro.resumed": "the last session resumed at step {step:,}: a run trained in one go may differ slightly "
                     "(other batches after a resume)",
    "repro.retrain": "to train this run again from scratch (the current checkpoint is archived, not lost):",
    "repro.none": "this checkpoint has no reproducibility card (saved by an older version)",
    "train.log_failed": "the TensorBoard log in {folder} cannot be written ({reason}); training goes on without it",
    # The plan of a run (gpt.plan).
    "plan.summary": ("the run sees {tokens:,} tokens, {ratio:,.1f} per parameter ({verdict}; compute-optimal is "
                     "about {optimal}) · {passes}{warning}"),
    "plan.under": "well below compute-optimal: more steps would still pay off for a model this size",
    "plan.about": "about compute-optimal",
    "plan.over": "above compute-optimal: a bigger model would use this compute better",
    "plan.passes": "{passes:,.1f} passes over the {train_tokens:,} training tokens",
    "plan.no_data": "passes over the data: known once data is prepared",
    "plan.overfitting": (" · ⚠️ more than {limit} passes: the model sees the same text again and again, so "
                         "overfitting is likely; use more text or fewer steps"),
}
