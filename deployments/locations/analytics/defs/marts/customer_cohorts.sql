-- Customers by signup month (cohort) and their orders and revenue by months since signup. Months are
-- counted from calendar months (year * 12 + month), which both warehouses compute the same way; the cohort
-- size counts every customer who signed up that month, ordering or not.
with cohorts as (
    select customer_id, cast(date_trunc('month', signup_date) as date) as cohort_month
    from $customers
),
sizes as (
    select cohort_month, count(*) as cohort_customers
    from cohorts
    group by cohort_month
),
activity as (
    select
        c.cohort_month,
        (year(o.order_ts) - year(c.cohort_month)) * 12 + month(o.order_ts) - month(c.cohort_month)
            as months_since_signup,
        o.customer_id,
        o.total_amount,
        o.order_ts
    from $orders as o
    join cohorts as c on c.customer_id = o.customer_id
    where o.status <> 'cancelled'
)
select
    a.cohort_month,
    a.months_since_signup,
    s.cohort_customers,
    count(distinct a.customer_id) as active_customers,
    count(*) as orders,
    sum(a.total_amount) as revenue,
    max(a.order_ts) as last_order_at
from activity as a
join sizes as s on s.cohort_month = a.cohort_month
group by a.cohort_month, a.months_since_signup, s.cohort_customers
