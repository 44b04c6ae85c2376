"""REST API 2010-04-01: one module per resource family, plus auth, paging, forms and Twilio error bodies."""
