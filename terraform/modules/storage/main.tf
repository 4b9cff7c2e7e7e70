# The platform's two buckets, each private, versioned and KMS-encrypted (module ./bucket).

module "datasets" {
  source = "./bucket"

  name        = var.datasets_bucket_name
  kms_key_arn = var.kms_key_arn
  lifecycle_rules = [
    { id = "abort-incomplete-uploads", abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days },
    { id = "archive-noncurrent-versions", noncurrent_glacier_after_days = var.noncurrent_versions_glacier_after_days },
  ]
  attach_deny_insecure_transport_policy = var.attach_deny_insecure_transport_policy
  force_destroy                         = var.force_destroy
  tags                                  = var.tags
}

module "model_outputs" {
  source = "./bucket"

  name        = var.model_outputs_bucket_name
  kms_key_arn = var.kms_key_arn
  lifecycle_rules = [
    {
      id                                     = "archive-old-models"
      glacier_after_days                     = var.model_outputs_glacier_after_days
      noncurrent_glacier_after_days          = var.noncurrent_versions_glacier_after_days
      abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days
    },
  ]
  attach_deny_insecure_transport_policy = var.attach_deny_insecure_transport_policy
  force_destroy                         = var.force_destroy
  tags                                  = var.tags
}
