from ninja import NinjaAPI

api = NinjaAPI(title="caseloop API", version="1")
