resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:rotation needs a rotation function per secret kind; the database secret is rotated by RDS (managed master password) in envs/prod, the others are rotated by hand
  for_each = var.secrets

  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value.description
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags
}
