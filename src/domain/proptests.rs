//! Property tests for the domain types: what parses prints back to itself,
//! every accepted form of a number means one line, and merging reports of a
//! call does not depend on their order.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use serde_json::json;

use super::period::start_of_day;
use super::{CallDirection, CallStatus, E164, NewCall, Period, Provider, Region, Role};

fn india() -> Region {
    Region::parse("IN").unwrap()
}

/// An Indian mobile subscriber number (10 digits, starting 6–9).
fn mobile() -> impl Strategy<Value = String> {
    (6u8..=9, 0u64..1_000_000_000).prop_map(|(lead, rest)| format!("{lead}{rest:09}"))
}

const ZONES: &[&str] = &[
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Europe/London",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_written_form_of_a_number_is_one_e164(n in mobile(), sep in prop::sample::select(vec!["", " ", "-"])) {
        let region = india();
        let want = E164::parse("n", &format!("+91{n}"), region).unwrap();
        prop_assert_eq!(want.as_str(), format!("+91{n}"));
        let spaced = format!("{}{sep}{}", &n[..5], &n[5..]);
        for form in [format!("0{n}"), format!("91{n}"), format!("+91 {spaced}"), format!("0091{n}"), n.clone()] {
            let got = E164::parse("n", &form, region);
            prop_assert_eq!(got.as_ref().ok(), Some(&want), "{}", form);
        }
        // What parses is E.164 that parses again to itself, whatever the region.
        for region in [india(), Region::parse("US").unwrap()] {
            prop_assert_eq!(E164::parse("n", want.as_str(), region).unwrap(), want.clone());
        }
        // Logs show a number only masked: the country code and the last four digits.
        prop_assert_eq!(want.masked(), format!("+91******{}", &n[6..]));
    }

    #[test]
    fn text_enums_and_roles_read_back_what_they_print(i in 0usize..64) {
        let s = CallStatus::ALL[i % CallStatus::ALL.len()];
        prop_assert_eq!(CallStatus::parse(s.as_str()).unwrap(), s);
        let d = CallDirection::ALL[i % CallDirection::ALL.len()];
        prop_assert_eq!(CallDirection::parse(d.as_str()).unwrap(), d);
        let p = Provider::ALL[i % Provider::ALL.len()];
        prop_assert_eq!(Provider::parse(p.as_str()).unwrap(), p);
        let r = Role::ALL[i % Role::ALL.len()];
        prop_assert_eq!(r.to_string().parse::<Role>().unwrap(), r);
    }

    #[test]
    fn a_call_read_from_its_json_is_the_call(
        n in mobile(),
        other in mobile(),
        id in "[A-Za-z0-9_-]{1,40}",
        start in 1_600_000_000i64..1_900_000_000,
        length in 0i64..7200,
        status in 0usize..8,
        inbound in any::<bool>(),
        flow in prop::option::of(("[0-9]{1,6}", "[A-Za-z]([A-Za-z ]{0,18}[A-Za-z])?")),
    ) {
        let status = CallStatus::ALL[status];
        let direction = if inbound { CallDirection::Inbound } else { CallDirection::Outbound };
        let started = Timestamp::from_second(start).unwrap();
        let ended = Timestamp::from_second(start + length).unwrap();
        let mut item = json!({
            "provider": "exotel",
            "providerCallId": id,
            "phoneNumber": format!("0{n}"),
            "otherParty": format!("+91{other}"),
            "direction": direction.as_str(),
            "status": status.as_str(),
            "startedAt": started.to_string(),
            "endedAt": ended.to_string(),
            "durationSeconds": length,
        });
        if let Some((fid, fname)) = &flow {
            item["flowId"] = json!(fid);
            item["flowName"] = json!(fname);
        }
        let call = NewCall::from_json(&item, india()).unwrap();
        prop_assert_eq!(call.provider, Provider::Exotel);
        prop_assert_eq!(&call.provider_call_id, &id);
        prop_assert_eq!(call.phone_number.as_str(), format!("+91{n}"));
        prop_assert_eq!(call.other_party.clone(), Some(format!("+91{other}")));
        prop_assert_eq!((call.direction, call.status), (direction, status));
        prop_assert_eq!((call.started_at, call.ended_at), (started, Some(ended)));
        prop_assert_eq!(call.duration_seconds, length);
        prop_assert_eq!(call.flow_id.clone(), flow.as_ref().map(|f| f.0.clone()));
        prop_assert_eq!(call.flow_name.clone(), flow.as_ref().map(|f| f.1.clone()));
        // The owned form is the same validation: with the record as its own
        // raw, with a raw object given, and with a raw that is not an object.
        prop_assert_eq!(NewCall::from_json_owned(item.clone(), india()).unwrap(), call.clone());
        let mut with_raw = item.clone();
        with_raw["raw"] = json!({"Sid": id, "Status": "completed"});
        prop_assert_eq!(
            NewCall::from_json_owned(with_raw.clone(), india()).unwrap(),
            NewCall::from_json(&with_raw, india()).unwrap()
        );
        with_raw["raw"] = json!("not an object");
        prop_assert_eq!(
            NewCall::from_json_owned(with_raw.clone(), india()).unwrap_err(),
            NewCall::from_json(&with_raw, india()).unwrap_err()
        );
        // An unknown field is refused by name, never dropped.
        item["colour"] = json!("blue");
        let errs = NewCall::from_json(&item, india()).unwrap_err();
        prop_assert!(errs.iter().any(|e| e.field == "colour"), "{:?}", errs);
        prop_assert_eq!(NewCall::from_json_owned(item.clone(), india()).unwrap_err(), errs);
    }

    #[test]
    fn merging_reports_does_not_depend_on_their_order(
        reports in prop::collection::vec((0usize..8, 0i64..600, 0i64..600, prop::option::of(0i64..900)), 1..5),
    ) {
        let region = india();
        let base = 1_780_000_000;
        let calls: Vec<NewCall> = reports
            .iter()
            .map(|&(status, offset, talk, end)| {
                let mut item = json!({
                    "providerCallId": "CA1",
                    "phoneNumber": "+918047180000",
                    "direction": "inbound",
                    "status": CallStatus::ALL[status].as_str(),
                    "startedAt": Timestamp::from_second(base + offset).unwrap().to_string(),
                    "durationSeconds": talk,
                });
                if let Some(e) = end {
                    item["endedAt"] = json!(Timestamp::from_second(base + 600 + e).unwrap().to_string());
                }
                NewCall::from_json(&item, region).unwrap()
            })
            .collect();
        let fold = |order: &mut dyn Iterator<Item = &NewCall>| {
            let first = order.next().unwrap().clone();
            order.fold(first, |acc, c| acc.merge(c.clone()))
        };
        let forward = fold(&mut calls.iter());
        let backward = fold(&mut calls.iter().rev());
        let key = |c: &NewCall| (c.status, c.duration_seconds, c.started_at, c.ended_at);
        prop_assert_eq!(key(&forward), key(&backward));
        // A repeat of any report changes nothing.
        for c in &calls {
            prop_assert_eq!(key(&forward.clone().merge(c.clone())), key(&forward));
        }
        prop_assert_eq!(forward.duration_seconds, calls.iter().map(|c| c.duration_seconds).max().unwrap());
    }

    #[test]
    fn a_period_of_dates_runs_from_local_midnight_to_local_midnight(
        zone in prop::sample::select(ZONES.to_vec()),
        day in 0i32..3650,
        length in 1i32..120,
    ) {
        let tz = TimeZone::get(zone).unwrap();
        let first = Date::new(2020, 1, 1).unwrap().checked_add(jiff::Span::new().days(day)).unwrap();
        let last = first.checked_add(jiff::Span::new().days(length - 1)).unwrap();
        let after = last.tomorrow().unwrap();
        let now = Timestamp::from_second(1_780_000_000).unwrap();
        let p = Period::parse(Some(&first.to_string()), Some(&after.to_string()), &tz, zone, now).unwrap();
        prop_assert_eq!(p.from, start_of_day(first, &tz));
        prop_assert_eq!(p.to, start_of_day(after, &tz));
        prop_assert_eq!(p.from.to_zoned_datetime(tz.clone()).date(), first);
        let prev = p.previous();
        prop_assert_eq!(prev.to, p.from);
        prop_assert_eq!(prev.to.duration_since(prev.from), p.to.duration_since(p.from));
        // The same period given as instants is the same period.
        let again = Period::parse(Some(&p.from.to_string()), Some(&p.to.to_string()), &tz, zone, now).unwrap();
        prop_assert_eq!((again.from, again.to), (p.from, p.to));
        let (a, b) = p.second_bounds();
        prop_assert_eq!((a, b), (p.from.as_second(), p.to.as_second()));
    }
}
