variable "name" {
  description = "Name of the load balancer (and prefix of its target groups and security group)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the load balancer and its targets."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (the load balancer reaches its targets there)."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets the load balancer listens in (one per AZ)."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate of the HTTPS listener (the platform's domain name)."
  type        = string
}

variable "ssl_policy" {
  description = "Security policy of the HTTPS listener: TLS 1.2 and 1.3 only."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "api_port" {
  description = "Container port of the API's tasks."
  type        = number
  default     = 8000
}

variable "ui_port" {
  description = "Container port of the dashboard's tasks."
  type        = number
  default     = 8501
}

variable "api_health_check_path" {
  description = "Health check path of the API's target group."
  type        = string
  default     = "/health"
}

variable "ui_health_check_path" {
  description = "Health check path of the dashboard's target group (Streamlit's)."
  type        = string
  default     = "/_stcore/health"
}

variable "api_key_header" {
  description = "Header that carries an API key (services/api auth/deps.py): requests with it go to the API without sign-in."
  type        = string
  default     = "X-API-Key"
}

variable "signed_in_api_client_header" {
  description = "Header a person's script sends with the load balancer's session cookie (the SDK's MLOPS_SESSION_COOKIE, mlops_client.credentials): requests with it go to the API after the session is checked."
  type        = string
  default     = "X-MLOps-Signed-In"
}

variable "blocked_paths" {
  description = "Paths the load balancer answers 404 itself, never forwarded (the API's Prometheus metrics: the ADOT sidecar scrapes them inside the task)."
  type        = list(string)
  default     = ["/metrics", "/metrics/*"]
}

variable "signed_in_api_paths" {
  description = "API paths people open in a browser (the Teams approval links): sign-in, then the API."
  type        = list(string)
  default     = ["/runs/*/approval-links/*"]
}

variable "oidc" {
  description = "The identity provider of the sign-in (Entra ID, Cognito, Okta ...): issuer and endpoints from its discovery document, the client id (the secret is oidc_client_secret)."
  type = object({
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    client_id              = string
    scope                  = optional(string, "openid email profile")
    session_timeout        = optional(number, 28800)
  })
}

variable "oidc_client_secret" {
  description = "Client secret of the sign-in's application at the identity provider."
  type        = string
  sensitive   = true
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer (set false, apply, then destroy to tear down)."
  type        = bool
  default     = true
}

variable "idle_timeout" {
  description = "Seconds a connection may stay idle (Streamlit keeps a WebSocket open and pings it)."
  type        = number
  default     = 120
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
