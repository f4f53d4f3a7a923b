import { describe, expect, it } from "vitest";
import { Inflights } from "./inflights.js";

describe("Inflights", () => {
  it("fills up by count and frees in order", () => {
    const in_ = new Inflights(10, 0);
    for (let i = 0; i < 5; i++) in_.add(i, 100);
    expect(in_.count()).toBe(5);
    expect(in_.bytes()).toBe(500);
    expect(in_.full()).toBe(false);
    for (let i = 5; i < 10; i++) in_.add(i, 100);
    expect(in_.full()).toBe(true);
    expect(() => in_.add(10, 1)).toThrow(/full/);
    in_.freeLE(4);
    expect(in_.count()).toBe(5);
    expect(in_.bytes()).toBe(500);
    expect(in_.full()).toBe(false);
    // Wrap around the ring.
    for (let i = 10; i < 15; i++) in_.add(i, 100);
    expect(in_.full()).toBe(true);
    in_.freeLE(8);
    expect(in_.count()).toBe(6);
    in_.freeLE(14);
    expect(in_.count()).toBe(0);
    expect(in_.bytes()).toBe(0);
  });

  it("ignores frees below the window", () => {
    const in_ = new Inflights(4, 0);
    in_.add(10, 1);
    in_.add(20, 1);
    in_.freeLE(5);
    expect(in_.count()).toBe(2);
    in_.freeLE(15);
    expect(in_.count()).toBe(1);
  });

  it("fills up by bytes", () => {
    const in_ = new Inflights(100, 1000);
    in_.add(1, 400);
    in_.add(2, 400);
    expect(in_.full()).toBe(false);
    in_.add(3, 300); // may exceed: the check is before adding
    expect(in_.full()).toBe(true);
    in_.freeLE(1);
    expect(in_.bytes()).toBe(700);
    expect(in_.full()).toBe(false);
  });

  it("resets and clones independently", () => {
    const in_ = new Inflights(3, 0);
    in_.add(1, 1);
    const c = in_.clone();
    in_.reset();
    expect(in_.count()).toBe(0);
    expect(c.count()).toBe(1);
    c.freeLE(1);
    expect(c.count()).toBe(0);
  });
});
