#!/usr/bin/env bash
# `make plan ENV=prod` / `make deploy ENV=prod`: plan, or build + push every image and apply.
#
#   scripts/deploy.sh plan   ENV   terraform plan of terraform/envs/ENV with this commit's images
#   scripts/deploy.sh deploy ENV   build and push every image tagged with the commit, run the schema
#                                  migration as a one-off ECS task, then terraform apply
#
# Needs: terraform, the AWS CLI v2 with credentials for the target account (a profile, SSO or the
# GitHub OIDC role), docker (deploy only), and terraform/envs/ENV/backend.hcl (see
# backend.hcl.example and terraform/bootstrap). terraform/envs/ENV/terraform.tfvars is used when present.
# AUTO_APPROVE=1 (or CI=true) applies without asking; ALLOW_DIRTY=1 deploys a work tree with changes.
set -euo pipefail

die() {
    echo "deploy: $*" >&2
    exit 1
}

[[ $# -eq 2 ]] || die "usage: $0 plan|deploy ENV (e.g. \`make deploy ENV=prod\`)"
action=$1
env_name=$2
[[ $action == plan || $action == deploy ]] || die "unknown action '$action' (plan or deploy)"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config="$root/terraform/envs/$env_name"
[[ $env_name != local && -d $config ]] || die "no deployable environment terraform/envs/$env_name (try ENV=prod)"

# name in ECR (mlops-<image>) => Dockerfile
declare -A dockerfiles=(
    [api]=services/api/Dockerfile
    [ui]=services/ui/Dockerfile
    [serving]=services/serving/Dockerfile
    [training]=workers/training/Dockerfile
    [evaluation]=workers/evaluation/Dockerfile
    [approval]=workers/approval/Dockerfile
    [projector]=workers/projector/Dockerfile
    [deployer]=workers/deployer/Dockerfile
)

command -v terraform >/dev/null || die "terraform is not installed (>= 1.10 is needed)"
command -v aws >/dev/null || die "the AWS CLI (v2) is not installed: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
if [[ $action == deploy ]]; then
    command -v docker >/dev/null || die "docker is not installed: the deploy builds and pushes the images"
    docker info >/dev/null 2>&1 || die "the Docker daemon does not answer (is it running? may this user use it?)"
fi
backend="${BACKEND_CONFIG:-$config/backend.hcl}"
[[ -f $backend ]] || die "no $backend: copy backend.hcl.example (values from \`terraform -chdir=terraform/bootstrap output\`), or set BACKEND_CONFIG"

identity=$(aws sts get-caller-identity --output json 2>&1) ||
    die "no usable AWS credentials (aws sts get-caller-identity failed): set AWS_PROFILE, run \`aws sso login\`, or export credentials
$identity"
account=$(sed -n 's/.*"Account": *"\([0-9]*\)".*/\1/p' <<<"$identity")
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region || true)}}"
region="${region:-eu-west-1}"
export AWS_REGION=$region

tag=$(git -C "$root" rev-parse HEAD) || die "not a git work tree: the image tag is the commit"
if [[ $action == deploy && -n $(git -C "$root" status --porcelain) && ${ALLOW_DIRTY:-0} != 1 ]]; then
    die "the work tree has uncommitted changes: images are tagged with the commit ($tag), commit first (or ALLOW_DIRTY=1)"
fi

tf() { terraform -chdir="$config" "$@"; }
var_args=(-var "image_tag=$tag" -var "region=$region")
[[ -f $config/terraform.tfvars ]] && var_args+=(-var-file=terraform.tfvars)

echo "deploy: account $account, region $region, image tag $tag"
tf init -input=false -backend-config="$backend" >/dev/null

if [[ $action == plan ]]; then
    tf plan -input=false "${var_args[@]}"
    exit 0
fi

registry="$account.dkr.ecr.$region.amazonaws.com"
repos=()
for image in "${!dockerfiles[@]}"; do repos+=("mlops-$image"); done
if ! aws ecr describe-repositories --repository-names "${repos[@]}" >/dev/null 2>&1; then
    echo "deploy: creating the ECR repositories first (targeted apply of module.ecr)"
    tf apply -input=false -auto-approve -target=module.ecr "${var_args[@]}"
fi

aws ecr get-login-password | docker login --username AWS --password-stdin "$registry"
for image in "${!dockerfiles[@]}"; do
    uri="$registry/mlops-$image:$tag"
    if aws ecr describe-images --repository-name "mlops-$image" --image-ids "imageTag=$tag" >/dev/null 2>&1; then
        echo "deploy: $uri is already in ECR (tags are immutable)"
        continue
    fi
    echo "deploy: building $uri"
    docker build --platform linux/amd64 -f "$root/${dockerfiles[$image]}" -t "$uri" "$root"
    docker push "$uri"
done

approve=()
[[ ${AUTO_APPROVE:-0} == 1 || ${CI:-} == true ]] && approve=(-auto-approve)

# The schema first (docs/decisions/0018-ecs-fargate-behind-an-alb.md): register the migration task
# of this commit's API image (and, on the first deploy, what it runs on), run it once and wait for
# it, and only then let the full apply move the API's service to the new image. The API's
# advisory-lock migration on start is no longer switched on: a failed migration stops the deploy here.
# What the task needs to run, on the first deploy too, and nothing that moves the services: the
# network (its endpoints and NAT: the image pull, the secret, the logs), the database, the cluster,
# the task definition, its roles' policies and the egress of the API's security group it runs in.
migration_targets=(
    -target=module.network
    -target=module.database
    -target=aws_ecs_cluster.this
    -target=aws_ecs_task_definition.migrate
    -target=aws_iam_role_policy.migrate
    -target=module.api.aws_iam_role_policy.execution
    -target=module.api.aws_vpc_security_group_egress_rule.https
    -target=module.api.aws_vpc_security_group_egress_rule.vpc
)
echo "deploy: registering the migration task of $tag"
tf apply -input=false -auto-approve "${migration_targets[@]}" "${var_args[@]}"
"$root/scripts/run_migration.sh" "$config"

tf apply -input=false "${approve[@]}" "${var_args[@]}"
