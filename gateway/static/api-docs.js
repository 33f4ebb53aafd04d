// Swagger UI on the generated document. validatorUrl null: the default would
// send the document to validator.swagger.io (no request leaves the gateway).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.getElementById("swagger-ui").dataset.spec,
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    persistAuthorization: true,
  });
});
