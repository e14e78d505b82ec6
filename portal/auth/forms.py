"""Forms for the account pages, rendered with GOV.UK Frontend widgets."""

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovPasswordInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import BooleanField, PasswordField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import Email, EqualTo, InputRequired, Length, ValidationError


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


EMAIL_MESSAGE = "Enter an email address in the correct format, like name@example.com"


def _email_field(label: str = "Email address") -> StringField:
    return StringField(
        label,
        widget=GovTextInput(),
        filters=[_strip],
        validators=[
            InputRequired(message="Enter your email address"),
            Length(max=254, message="Email address must be 254 characters or fewer"),
            Email(message=EMAIL_MESSAGE, check_deliverability=False),
        ],
    )


def _new_password_fields() -> tuple[PasswordField, PasswordField]:
    password = PasswordField(
        "Password",
        widget=GovPasswordInput(),
        description="At least 10 characters.",
        validators=[
            InputRequired(message="Enter a password"),
            Length(min=10, max=200, message="Password must be between 10 and 200 characters"),
        ],
    )
    confirm = PasswordField(
        "Confirm password",
        widget=GovPasswordInput(),
        validators=[
            InputRequired(message="Confirm your password"),
            EqualTo("password", message="Passwords must match"),
        ],
    )
    return password, confirm


class RegisterForm(FlaskForm):
    full_name = StringField(
        "Full name",
        widget=GovTextInput(),
        validators=[
            InputRequired(message="Enter your full name"),
            Length(max=200, message="Full name must be 200 characters or fewer"),
        ],
    )
    email = _email_field("Work email address")
    password, confirm_password = _new_password_fields()
    submit = SubmitField("Create account", widget=GovSubmitInput())


class LoginForm(FlaskForm):
    email = _email_field()
    password = PasswordField(
        "Password",
        widget=GovPasswordInput(),
        validators=[InputRequired(message="Enter your password")],
    )
    submit = SubmitField("Sign in", widget=GovSubmitInput())


class ResetRequestForm(FlaskForm):
    email = _email_field()
    submit = SubmitField("Send reset link", widget=GovSubmitInput())


class NewPasswordForm(FlaskForm):
    password, confirm_password = _new_password_fields()
    submit = SubmitField("Save password", widget=GovSubmitInput())


class AcceptInvitationForm(FlaskForm):
    full_name = StringField(
        "Full name",
        widget=GovTextInput(),
        validators=[InputRequired(message="Enter your full name"), Length(max=200)],
    )
    password, confirm_password = _new_password_fields()
    submit = SubmitField("Join organisation", widget=GovSubmitInput())


def _lines(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").replace(",", "\n").splitlines() if part.strip()]


class OrganisationForm(FlaskForm):
    name = StringField(
        "Organisation name",
        widget=GovTextInput(),
        validators=[
            InputRequired(message="Enter the organisation's name"),
            Length(max=200, message="Name must be 200 characters or fewer"),
        ],
    )
    email_domains = TextAreaField(
        "Email domains",
        widget=GovTextArea(),
        description="One per line, for example example-pharma.com. Yours is added if left empty.",
    )
    sponsor_names = TextAreaField(
        "Names the organisation is registered under as sponsor",
        widget=GovTextArea(),
        description="One per line, as they appear in ClinicalTrials.gov or ISRCTN.",
    )
    submit = SubmitField("Create organisation", widget=GovSubmitInput())

    def validate_email_domains(self, field: TextAreaField) -> None:
        for domain in _lines(field.data):
            domain = domain.lstrip("@")
            if "." not in domain or " " in domain or "@" in domain or len(domain) > 253:
                raise ValidationError(f"“{domain}” is not an email domain, like example.com")

    def domain_list(self) -> list[str]:
        return _lines(self.email_domains.data)

    def sponsor_name_list(self) -> list[str]:
        return _lines(self.sponsor_names.data)


class InviteForm(FlaskForm):
    email = _email_field("Their work email address")
    role = RadioField(
        "Role",
        widget=GovRadioInput(),
        choices=[
            ("sponsor", "Sponsor: claims trials and enters their facts"),
            ("compliance_officer", "Compliance officer: sees the whole portfolio and reports"),
            ("sponsor_admin", "Administrator: also manages members"),
        ],
        validators=[InputRequired(message="Choose a role")],
    )
    webmail_confirmed = BooleanField(
        "Send it to this address anyway",
        widget=GovCheckboxInput(),
        description="Only needed for a personal webmail address (like gmail.com).",
    )
    submit = SubmitField("Send invitation", widget=GovSubmitInput())


def _current_password_field(label: str = "Password") -> PasswordField:
    return PasswordField(
        label, widget=GovPasswordInput(), validators=[InputRequired(message="Enter your password")]
    )


class ConfirmWithPasswordForm(FlaskForm):
    """Confirming an address from a browser that did not sign up: the account's password."""

    password = _current_password_field("The password you chose when you created the account")
    submit = SubmitField("Confirm email address", widget=GovSubmitInput())


class JoinWithPasswordForm(FlaskForm):
    """Joining an organisation with an account that already exists and is confirmed."""

    password = _current_password_field("Your password")
    submit = SubmitField("Join organisation", widget=GovSubmitInput())


class ChangeEmailForm(FlaskForm):
    email = _email_field("New email address")
    password = _current_password_field("Your current password")
    submit = SubmitField("Send a confirmation link", widget=GovSubmitInput())


class DecisionForm(FlaskForm):
    decision = RadioField(
        "Decision",
        widget=GovRadioInput(),
        choices=[("approve", "Approve"), ("reject", "Reject")],
        validators=[InputRequired(message="Choose approve or reject")],
    )
    reason = TextAreaField("Reason (required to reject)", widget=GovTextArea())
    submit = SubmitField("Save decision", widget=GovSubmitInput())


class EmptyForm(FlaskForm):
    """A form with only its CSRF token, for buttons that POST."""
