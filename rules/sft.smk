# The SFT stages: one rule per `sft` row of the stage table (r1/pipeline.py): the row's parent model trained
# on the row's dataset plus the section's `files` (decontaminated), configured by its section (SFTStage).
# The paper's 800k SFT (`sft`) restarts from the BASE model, not from the RL checkpoint.


for _stage in pipeline.of_kind("sft"):

    rule:
        name:
            _stage.rule
        input:
            **model_input(_stage.parent),
            **dataset_input(_stage),
            code=code(_stage.rule),
            benchmarks=benchmark_files(),
            files=section_files(_stage.section),
        output:
            model=directory(_stage.model_dir),
            metrics=f"{_stage.folder}/metrics.jsonl",
            manifest=f"{_stage.folder}/manifest.json",
        log:
            log_file(_stage.rule),
        benchmark:
            bench_file(_stage.rule)
        priority: 10
        retries: RETRIES
        threads: stage_threads(_stage.rule)
        resources:
            **stage_resources(_stage.rule),
        params:
            deepspeed=stage_deepspeed(_stage.rule),
            target=_stage.entry,
            cfg=config[_stage.section],
            decontam=decontam_cfg(),
            seed=SEED,
        script:
            "../scripts/run_stage.py"
