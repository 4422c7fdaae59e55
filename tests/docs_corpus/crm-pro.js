// A CRM MiniApp written the way the quickstart and webhooks guide write one, with a
// namespace that is not kebab-case (DEF_NS_FORMAT).
const crmMiniApp = {
  ns: "crm_Pro",
  name: "crm_Pro",
  type: "crm_Pro",
  title: "CRM Pro",
  label: "CRM Pro",
  description: "Sync contacts and deals from CRM Pro.",
  shortDescription: "CRM Pro contacts and deals",
  status: "private", // Karzoun sets 'public' after approval
  version: "1.0.0",
  category: "crm",
  icon: "https://cdn.example.com/icon.svg",
  logo: "https://cdn.example.com/logo.svg",
  docsUrl: "https://docs.example.com/your-karzoun-guide",

  auth: {
    type: "apikey",
    sensitiveKeys: ["apiKey", "webhookSecret"],
    config: { apiKey: "", webhookSecret: "" },
  },

  triggers: [
    {
      type: "miniapps:crm_Pro",
      event: "contact.created",
      img: "automation3.svg",
      icon: "users-alt",
      label: "Contact Created",
      description: "Triggered when a contact is created.",
      isCustom: false,
    },
    {
      type: "miniapps:crm_Pro",
      event: "deal.won",
      img: "automation4.svg",
      icon: "trophy",
      label: "Deal Won",
      description: "Triggered when a deal is won.",
      isCustom: false,
    },
  ],

  webhook: {
    eventExtraction: { source: "body", path: "$.event" },
    transactionId: { paths: ["$.event_id"], fallback: "generate" },
    verification: {
      type: "hmac-sha256",
      headerName: "X-Signature-256",
      secretKey: "webhookSecret",
    },
    response: { statusCode: 200, body: { ok: true } },
  },
};
