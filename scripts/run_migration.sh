#!/usr/bin/env bash
# Runs the schema migration (`mlops-api migrate`) once as an ECS Fargate task and waits for it:
# `make deploy` calls it before the API's service takes a new image (scripts/deploy.sh).
#
#   scripts/run_migration.sh terraform/envs/prod
#
# Reads the cluster, the migration's task definition and its network from the configuration's
# outputs (ecs_cluster_name, migrate_task_definition, migrate_network_configuration); fails unless the task's container exits with 0.
set -euo pipefail

die() {
    echo "migration: $*" >&2
    exit 1
}

[[ $# -eq 1 ]] || die "usage: $0 TERRAFORM_CONFIG_DIR"
config=$1
command -v terraform >/dev/null || die "terraform is not installed"
command -v aws >/dev/null || die "the AWS CLI (v2) is not installed"

output() { terraform -chdir="$config" output -raw "$1"; }
cluster=$(output ecs_cluster_name) || die "no ecs_cluster_name output: apply the configuration first"
task_definition=$(output migrate_task_definition) || die "no migrate_task_definition output"
network=$(output migrate_network_configuration) || die "no migrate_network_configuration output"

echo "migration: running $task_definition on $cluster"
task_arn=$(aws ecs run-task --cluster "$cluster" --task-definition "$task_definition" \
    --launch-type FARGATE --count 1 --started-by make-deploy \
    --network-configuration "$network" --query 'tasks[0].taskArn' --output text)
[[ -n $task_arn && $task_arn != None ]] || die "ECS started no task (aws ecs run-task answered no task)"

aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$task_arn" ||
    die "the migration task $task_arn did not stop in time (see its logs, stream prefix migrate)"
exit_code=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task_arn" \
    --query 'tasks[0].containers[?name==`migrate`].exitCode | [0]' --output text)
reason=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task_arn" --query 'tasks[0].stoppedReason' --output text)
[[ $exit_code == 0 ]] || die "the migration task $task_arn failed (exit code $exit_code, $reason): the API's service was not updated"
echo "migration: done ($task_arn)"
