/** Fabric / Power BI building blocks: one REST client and the dynamic resources built on it. */
export * from "./client";
export * from "./definition";
export * from "./providerOptions";
export * from "./workspace";
export * from "./connection";
export * from "./items";
export * from "./binding";
export * from "./pbipFiles";
