/** PBIP fixtures shaped like the files under powerbi/ (a TMDL model and a PBIR report). */
import type { PbipPart } from "../../components/powerbi/definition";

/** expressions.tmdl with the three per-stack parameters and the source query that uses them. */
export const EXPRESSIONS_TMDL = [
  'expression DatabricksHost = "adb-000.0.azuredatabricks.net" meta [IsParameterQuery=true, Type="Text", IsParameterQueryRequired=true]',
  "\tlineageTag: 1b7a",
  "",
  "expression 'Http Path' = \"/sql/1.0/warehouses/local\" meta [IsParameterQuery=true, Type=\"Text\", IsParameterQueryRequired=true]",
  "",
  'expression Catalog = "oms_dev" meta [IsParameterQuery=true, Type="Text", IsParameterQueryRequired=true]',
  "",
  "expression Source = ```",
  "\t\tlet",
  '\t\t\tSource = Databricks.Catalogs(DatabricksHost, #"Http Path", [Catalog = Catalog])',
  "\t\tin",
  "\t\t\tSource",
  "\t\t```",
  "",
].join("\n");

export const MODEL_PARTS: PbipPart[] = [
  { path: ".platform", content: '{"metadata":{"type":"SemanticModel","displayName":"Oms"}}' },
  { path: ".pbi/localSettings.json", content: "{}" },
  {
    path: "definition.pbism",
    content: JSON.stringify({
      $schema:
        "https://developer.microsoft.com/json-schemas/fabric/item/semanticModel/definitionProperties/1.0.0/schema.json",
      version: "4.2",
      settings: {},
    }),
  },
  { path: "definition/model.tmdl", content: "model Model\n\tculture: en-US\n" },
  { path: "definition/expressions.tmdl", content: EXPRESSIONS_TMDL },
  { path: "definition/tables/orders.tmdl", content: "table orders\n\tcolumn order_id\n" },
];

export const REPORT_PARTS: PbipPart[] = [
  { path: ".platform", content: '{"metadata":{"type":"Report","displayName":"Oms"}}' },
  {
    path: "definition.pbir",
    content: JSON.stringify({
      $schema:
        "https://developer.microsoft.com/json-schemas/fabric/item/report/definitionProperties/2.0.0/schema.json",
      version: "4.0",
      datasetReference: { byPath: { path: "../Oms.SemanticModel" } },
    }),
  },
  { path: "definition/version.json", content: '{"version":"2.0.0"}' },
  { path: "definition/report.json", content: '{"themeCollection":{}}' },
  { path: "definition/pages/pages.json", content: '{"pageOrder":["p1"]}' },
];
