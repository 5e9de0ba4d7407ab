# The GRPO stages: one rule per `rl` row of the stage table (r1/pipeline.py), from the row's parent model
# on the prepared prompts, configured by the config section of the same name (r1/config.py, RLStage).


for _stage in pipeline.of_kind("rl"):

    rule:
        name:
            _stage.rule
        input:
            **model_input(_stage.parent),
            **prompts_input(),
            code=code(_stage.rule),
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
            grading=grading_cfg(),
            seed=SEED,
        script:
            "../scripts/run_stage.py"
