# The platform's one entry from the internet (docs/decisions/0018-ecs-fargate-behind-an-alb.md): an
# Application Load Balancer in the public subnets, HTTP redirected to HTTPS (TLS 1.2+), and the
# HTTPS listener's rules, first match wins:
#   1. the API's /metrics: 404 from the load balancer itself (the ADOT sidecar scrapes it in the task);
#   2. the Teams approval links: sign-in through the identity provider, then the API;
#   3. a person's script (the SDK with MLOPS_SESSION_COOKIE: the session cookie and the signed-in
#      client header): the session checked, then the API; an expired session is a 401, not a redirect;
#   4. a request carrying an API key (CI, workers, scripts): the API, no sign-in (the API checks the key);
#   default: sign-in through the identity provider (authenticate-oidc), then the dashboard.
# After sign-in the load balancer adds its signed identity header (x-amzn-oidc-data) to each request;
# the API verifies it with the load balancer's ARN as the expected signer.

locals {
  authenticate = {
    issuer                     = var.oidc.issuer
    authorization_endpoint     = var.oidc.authorization_endpoint
    token_endpoint             = var.oidc.token_endpoint
    user_info_endpoint         = var.oidc.user_info_endpoint
    client_id                  = var.oidc.client_id
    scope                      = var.oidc.scope
    session_timeout            = var.oidc.session_timeout
    on_unauthenticated_request = "authenticate"
  }
}

resource "aws_security_group" "this" {
  name        = "${var.name}-alb"
  description = "The platform's load balancer: HTTPS (and HTTP, redirected) from the internet"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS from the internet (people sign in; API keys are checked by the API)"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  #checkov:skip=CKV_AWS_260:port 80 only answers a redirect to HTTPS (aws_lb_listener.http); nothing is served over plain HTTP
  security_group_id = aws_security_group.this.id
  description       = "HTTP from the internet, redirected to HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 80
  to_port           = 80
  ip_protocol       = "tcp"
}

# The targets (in the VPC) and the identity provider's token and user-info endpoints (internet).
resource "aws_vpc_security_group_egress_rule" "targets" {
  for_each = toset([tostring(var.api_port), tostring(var.ui_port)])

  security_group_id = aws_security_group.this.id
  description       = "The tasks' container port ${each.key}"
  cidr_ipv4         = var.vpc_cidr
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "identity_provider" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to the identity provider's token and user-info endpoints"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:no access-log bucket: ALB access logs accept SSE-S3 only, not the platform's KMS key; the API's access log (CloudWatch) records every forwarded request
  #checkov:skip=CKV2_AWS_28:no WAF web ACL (about 6 USD a month plus rules, above the platform's budget); sign-in at the load balancer and API keys guard every path, see the README's cost table
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.subnet_ids
  security_groups            = [aws_security_group.this.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = var.idle_timeout
  tags                       = var.tags
}

resource "aws_lb_target_group" "api" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the targets are tasks in the private subnets, reached over the VPC only
  name                 = "${var.name}-api"
  port                 = var.api_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = var.api_health_check_path
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_target_group" "ui" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the targets are tasks in the private subnets, reached over the VPC only
  name                 = "${var.name}-ui"
  port                 = var.ui_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = var.ui_health_check_path
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  # a Streamlit session lives in one task (its WebSocket and session state)
  stickiness {
    type            = "lb_cookie"
    enabled         = true
    cookie_duration = 86400
  }

  tags = var.tags
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type  = "authenticate-oidc"
    order = 1
    authenticate_oidc {
      issuer                     = local.authenticate.issuer
      authorization_endpoint     = local.authenticate.authorization_endpoint
      token_endpoint             = local.authenticate.token_endpoint
      user_info_endpoint         = local.authenticate.user_info_endpoint
      client_id                  = local.authenticate.client_id
      client_secret              = var.oidc_client_secret
      scope                      = local.authenticate.scope
      session_timeout            = local.authenticate.session_timeout
      on_unauthenticated_request = local.authenticate.on_unauthenticated_request
    }
  }

  default_action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.ui.arn
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "blocked" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 1

  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "Not Found"
      status_code  = "404"
    }
  }

  condition {
    path_pattern {
      values = var.blocked_paths
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "signed_in_api" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type  = "authenticate-oidc"
    order = 1
    authenticate_oidc {
      issuer                     = local.authenticate.issuer
      authorization_endpoint     = local.authenticate.authorization_endpoint
      token_endpoint             = local.authenticate.token_endpoint
      user_info_endpoint         = local.authenticate.user_info_endpoint
      client_id                  = local.authenticate.client_id
      client_secret              = var.oidc_client_secret
      scope                      = local.authenticate.scope
      session_timeout            = local.authenticate.session_timeout
      on_unauthenticated_request = local.authenticate.on_unauthenticated_request
    }
  }

  action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.api.arn
  }

  condition {
    path_pattern {
      values = var.signed_in_api_paths
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "signed_in_api_client" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 15

  action {
    type  = "authenticate-oidc"
    order = 1
    authenticate_oidc {
      issuer                 = local.authenticate.issuer
      authorization_endpoint = local.authenticate.authorization_endpoint
      token_endpoint         = local.authenticate.token_endpoint
      user_info_endpoint     = local.authenticate.user_info_endpoint
      client_id              = local.authenticate.client_id
      client_secret          = var.oidc_client_secret
      scope                  = local.authenticate.scope
      session_timeout        = local.authenticate.session_timeout
      # a script cannot follow the identity provider's sign-in: 401 instead of a redirect
      on_unauthenticated_request = "deny"
    }
  }

  action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.api.arn
  }

  condition {
    http_header {
      http_header_name = var.signed_in_api_client_header
      values           = ["*"]
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "api_key" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 20

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }

  condition {
    http_header {
      http_header_name = var.api_key_header
      values           = ["*"]
    }
  }

  tags = var.tags
}
