# One rule per single-job row of the stage table (r1/pipeline.py): the base model, the prompt data, the RL and
# SFT stages and the generate-and-filter stages. A row's kind decides what its rule reads, writes and is given
# (stage_input, stage_output, stage_params in rules/common.smk); everything else is the same for every stage
# and written once, here. Distillation, evaluation and the report (wildcards, many inputs) have their own files.


for _stage in pipeline.single_jobs():

    rule:
        name:
            _stage.rule
        input:
            **stage_input(_stage),
        output:
            **stage_output(_stage),
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
            **stage_params(_stage),
        script:
            "../scripts/run_stage.py"
