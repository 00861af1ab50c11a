from django.urls import path

from caseloop.web.views import account, case, case_actions, customer, inbox, search

app_name = "web"

urlpatterns = [
    path("", inbox.inbox, name="inbox"),
    path("inbox/chips/", inbox.inbox_chips, name="inbox_chips"),
    path("search/", search.search, name="search"),
    path("cases/<int:case_id>/", case.case_detail, name="case"),
    path(
        "cases/<int:case_id>/files/<int:attachment_id>/",
        case.attachment_download,
        name="attachment",
    ),
    path("cases/<int:case_id>/notes/", case_actions.add_note, name="add_note"),
    path("cases/<int:case_id>/files/", case_actions.attach_file, name="attach_file"),
    path(
        "cases/<int:case_id>/contact-attempts/",
        case_actions.log_contact_attempt,
        name="log_contact_attempt",
    ),
    path(
        "cases/<int:case_id>/tasks/<int:task_id>/done/",
        case_actions.complete_task,
        name="complete_task",
    ),
    path(
        "cases/<int:case_id>/tasks/<int:task_id>/undone/",
        case_actions.undo_task,
        name="undo_task",
    ),
    path("cases/<int:case_id>/owner/", case_actions.assign_case, name="assign_case"),
    path("cases/<int:case_id>/watchers/", case_actions.add_watcher, name="add_watcher"),
    path(
        "cases/<int:case_id>/watchers/<int:user_id>/remove/",
        case_actions.remove_watcher,
        name="remove_watcher",
    ),
    path("cases/<int:case_id>/close/", case_actions.close_case, name="close_case"),
    path("cases/<int:case_id>/reopen/", case_actions.reopen_case, name="reopen_case"),
    path("customers/<int:customer_id>/", customer.customer_detail, name="customer"),
    path("login/", account.login, name="login"),
    path("logout/", account.logout, name="logout"),
    path("password/change/", account.password_change, name="password_change"),
    path("password/change/done/", account.password_change_done, name="password_change_done"),
    path("password/reset/", account.password_reset, name="password_reset"),
    path("password/reset/sent/", account.password_reset_done, name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        account.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        account.password_reset_complete,
        name="password_reset_complete",
    ),
]
