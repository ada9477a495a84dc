from shared.errors import AppError, AuthenticationRequired, Conflict, RateLimited, ValidationFailed


class InvalidCredentials(AuthenticationRequired):
    code = "INVALID_CREDENTIALS"
    default_message = "Email or password is incorrect"


class RefreshTokenReused(AuthenticationRequired):
    code = "INVALID_TOKEN"
    default_message = "The token is invalid or has been revoked"


class RefreshTokenRotated(AuthenticationRequired):
    code = "TOKEN_ROTATED"
    default_message = "This refresh token was just exchanged for a new pair; use that pair"


class TooManyLoginAttempts(RateLimited):
    default_message = "Too many login attempts for this account; try again later"


class EmailTaken(Conflict):
    code = "EMAIL_TAKEN"
    default_message = "A user with this email already exists"


class WeakPassword(ValidationFailed):
    default_message = "Choose a longer, less common password"


class InvalidResetToken(AppError):
    status_code = 400
    code = "INVALID_RESET_TOKEN"
    default_message = "The reset link is invalid, used or expired"


class LastAdmin(Conflict):
    code = "LAST_ADMIN"
    default_message = "The last active admin cannot be demoted or deactivated"
