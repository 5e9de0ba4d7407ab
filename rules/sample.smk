# The generate-and-filter stages that build SFT data (cold start, rejection sampling): one rule per `sample`
# row of the stage table (r1/pipeline.py). Each samples its parent model (cold_start.source: teacher samples
# cold_start.teacher_path instead), grades and filters the samples, and adds the section's user files.


for _stage in pipeline.of_kind("sample"):

    rule:
        name:
            _stage.rule
        input:
            **model_input(pipeline.parent_model(_stage, config)),
            **prompts_input(),
            code=code(_stage.rule),
            benchmarks=benchmark_files(),
            files=section_files(_stage.section),
        output:
            samples=f"{_stage.folder}/samples.parquet",
            dataset=f"{_stage.folder}/dataset.parquet",
            stats=f"{_stage.folder}/stats.json",
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
            target=_stage.entry,
            cfg=config[_stage.section],
            generation=generation_cfg(),
            grading=grading_cfg(),
            decontam=decontam_cfg(),
            seed=SEED,
        script:
            "../scripts/run_stage.py"
